{
  services.clawgate = {
    enable = true;
    # MOONSHOT_API_KEY=... in a root-owned file with mode 0600.
    environmentFile = "/run/keys/clawgate.env";
    # Or per key, through systemd credentials (never in the environment):
    credentials.OPENROUTER_API_KEY = "/run/keys/openrouter";
    settings = {
      agents.defaults.model = {
        primary = "moonshot/kimi-k2.6";
        fallbacks = [ "openrouter/moonshotai/kimi-k2.6" ];
      };
    };
  };

  # Only needed for this example to evaluate on its own.
  boot.loader.grub.enable = false;
  fileSystems."/".device = "none";
  system.stateVersion = "26.05";
}
