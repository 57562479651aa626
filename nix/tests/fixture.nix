# Settings shared by the module checks and the VM tests: Kimi Coding first,
# OpenRouter as the fallback. Pure data.
{
  serviceOptions = {
    enable = true;
    settings = {
      agents.defaults.model = {
        primary = "kimi/kimi-for-coding";
        fallbacks = [ "openrouter/moonshotai/kimi-k2.6" ];
      };
    };
  };

  # For the VM tests: two clawgate-mock upstreams, the primary failing.
  mockSettings = primaryPort: backupPort: {
    models.mode = "replace";
    models.providers = {
      kimi = {
        baseUrl = "http://127.0.0.1:${toString primaryPort}/v1";
        apiKey = "\${MOCK_KEY}";
        models = [ { id = "kimi-for-coding"; } ];
      };
      openrouter = {
        baseUrl = "http://127.0.0.1:${toString backupPort}/v1";
        apiKey = "\${MOCK_KEY}";
        models = [ { id = "moonshotai/kimi-k2.6"; } ];
      };
    };
    agents.defaults.model = {
      primary = "kimi/kimi-for-coding";
      fallbacks = [ "openrouter/moonshotai/kimi-k2.6" ];
    };
  };

  # A test secret: it must never show up in a journal.
  secret = "sk-vm-test-secret-5f2a91";
}
