# The `models.providers.clawgate` entry an OpenClaw config needs to use a
# running clawgate, computed from clawgate's settings and the built-in
# catalog (src/catalog/catalog.json, the file the binary compiles in).
# `clawgate openclaw provider` prints the same JSON for users without Nix.
#
#   import ./openclaw.nix { inherit lib; catalog = builtins.fromJSON (...); settings = { ... }; }
#
# returns { provider, primary, chain, snippet }: the provider entry,
# OpenClaw's model ref for the primary (`clawgate/<ref>`), the chain's
# canonical refs, and the OpenClaw config excerpt holding the first two
# (what `clawgate openclaw provider` prints).
#
# OpenClaw 2026.9 offers `/think` levels off to high for a model whose entry
# says `reasoning: true` (only `off` otherwise) and sends them to a custom
# provider only with `compat.supportsReasoningEffort`; its bundled Moonshot
# policies key on the provider id, so it takes a `clawgate` model as its
# entry describes it.
# Only `lib` functions that nixpkgs.lib has had for years are used, so the
# evaluation tests can call it with plain settings.
{
  lib,
  catalog,
  settings,
}:
let
  get = path: default: lib.attrByPath path default settings;

  replace = get [ "models" "mode" ] "merge" == "replace";
  userProviders = get [ "models" "providers" ] { };

  # The binary's merge of the user's providers over the catalog's
  # (src/catalog/mod.rs): objects key by key, a provider's `models` list by
  # `id`, the user's values winning.
  mergeModels =
    base: user:
    let
      ids = map (m: m.id or null) base;
      merged = map (
        b:
        let
          overrides = builtins.filter (u: (u.id or null) != null && u.id == (b.id or null)) user;
        in
        builtins.foldl' merge b overrides
      ) base;
      added = builtins.filter (u: !(builtins.elem (u.id or null) ids) || (u.id or null) == null) user;
    in
    merged ++ added;
  merge =
    base: user:
    if builtins.isAttrs base && builtins.isAttrs user then
      base
      // builtins.mapAttrs (
        key: value:
        if !(base ? ${key}) then
          value
        else if key == "models" && builtins.isList base.${key} && builtins.isList value then
          mergeModels base.${key} value
        else
          merge base.${key} value
      ) user
    else
      user;

  providers =
    if replace then userProviders else merge catalog.models.providers userProviders;

  modelEntries = get [ "agents" "defaults" "models" ] { };

  # A ref as the binary resolves it (config::normalize_ref): an alias from
  # agents.defaults.models, OpenClaw's provider aliases (`kimi-coding/...`)
  # where that provider is not configured, legacy model ids (`kimi/k2p5`)
  # where the old id is not configured.
  resolve =
    text:
    let
      aliased = lib.filterAttrs (_: entry: builtins.isAttrs entry && (entry.alias or null) == text) modelEntries;
      written = if aliased != { } then builtins.head (builtins.attrNames aliased) else text;
      parts = builtins.match "([^/]+)/(.+)" written;
      provider0 = builtins.elemAt parts 0;
      canonicalProvider = catalog.providerAliases.${provider0} or null;
      provider =
        if providers ? ${provider0} then
          provider0
        else if canonicalProvider != null && providers ? ${canonicalProvider} then
          canonicalProvider
        else
          provider0;
      model0 = builtins.elemAt parts 1;
      known = builtins.any (m: (m.id or null) == model0) (providers.${provider}.models or [ ]);
      model = if known then model0 else catalog.modelAliases."${provider}/${model0}" or model0;
    in
    if parts == null then
      throw "services.clawgate: ${builtins.toJSON text} is neither an alias of agents.defaults.models nor a provider/model ref"
    else
      {
        inherit provider model;
        ref = "${provider}/${model}";
      };

  # agents.defaults.model as written (a ref string or { primary, fallbacks }),
  # else the catalog's default chain, which the binary applies itself.
  written = get [ "agents" "defaults" "model" ] null;
  choice = if written == null then catalog.agents.defaults.model else written;
  # A place is a ref or a pool (a list of refs): each pool's refs in turn.
  places =
    if builtins.isString choice then
      [ choice ]
    else
      lib.optional ((choice.primary or null) != null) choice.primary ++ (choice.fallbacks or [ ]);
  refs = lib.flatten places;
  chain = lib.unique (map (text: (resolve text).ref) refs);

  # The built-in provider whose catalog describes a provider's models, as
  # the binary finds its dialect (capabilities.rs Dialect::resolve): the
  # `dialect` key, else a well-known host, else a well-known id.
  catalogProvider =
    id:
    let
      p = providers.${id} or { };
      host =
        let
          m = builtins.match "[a-z]+://([^/:]+).*" (p.baseUrl or "");
        in
        if m == null then null else builtins.head m;
      byDialect = {
        moonshot = "moonshot";
        kimi-coding = "kimi";
        openrouter = "openrouter";
      };
      byHost = {
        "api.moonshot.ai" = "moonshot";
        "api.moonshot.cn" = "moonshot";
        "api.kimi.com" = "kimi";
        "openrouter.ai" = "openrouter";
      };
      byId = {
        moonshot = "moonshot";
        moonshot-cn = "moonshot";
        kimi = "kimi";
        kimi-coding = "kimi";
        kimi-code = "kimi";
        kimicode = "kimi";
        openrouter = "openrouter";
      };
    in
    if p ? dialect then
      byDialect.${p.dialect} or null
    else if host != null && byHost ? ${host} then
      byHost.${host}
    else
      byId.${lib.toLower id} or null;

  # A model's facts: its entry, over the catalog's entry for the same model
  # under the provider's dialect (legacy ids too), field by field.
  modelFacts =
    ref:
    let
      r = resolve ref;
      find = id: list: builtins.filter (m: (m.id or null) == id) list;
      own = find r.model (providers.${r.provider}.models or [ ]);
      base = catalogProvider r.provider;
      canonical = if base == null then null else catalog.modelAliases."${base}/${r.model}" or r.model;
      known = if base == null then [ ] else find canonical catalog.models.providers.${base}.models;
      entry = if own == [ ] then { } else builtins.head own;
    in
    if known == [ ] then entry else merge (builtins.head known) entry;

  entry =
    ref:
    let
      m = modelFacts ref;
      cost = m.cost or { };
    in
    {
      id = ref;
      name = "${m.name or (resolve ref).model} via clawgate";
      reasoning = m.reasoning or false;
      input = m.input or [ "text" ];
      cost = {
        input = cost.input or 0;
        output = cost.output or 0;
        cacheRead = cost.cacheRead or 0;
        cacheWrite = cost.cacheWrite or 0;
      };
      # Without supportsReasoningEffort OpenClaw sends a custom provider no
      # thinking level at all; with it, clawgate maps reasoning_effort onto
      # each provider's thinking switch.
      compat = {
        supportsReasoningEffort = true;
        supportsUsageInStreaming = true;
      };
    }
    // lib.optionalAttrs (m ? contextWindow) { inherit (m) contextWindow; }
    // lib.optionalAttrs (m ? maxTokens) { inherit (m) maxTokens; };

  port = get [ "gateway" "port" ] 18700;
  bind = get [ "gateway" "bind" ] "127.0.0.1";
  # Where a client on this machine reaches the listener (as the binary's
  # `clawgate openclaw provider`): the bind address itself, bracketed when
  # IPv6, or loopback of the same family for a wildcard.
  host =
    if builtins.elem bind [
      "localhost"
      "loopback"
      "0.0.0.0"
    ] then
      "127.0.0.1"
    else if builtins.elem bind [
      "::"
      "[::]"
    ] then
      "[::1]"
    else if lib.hasInfix ":" bind && !(lib.hasPrefix "[" bind) then
      "[${bind}]"
    else
      bind;
  token = get [ "gateway" "auth" "token" ] null;
  primary = "clawgate/${builtins.head chain}";
  provider = {
    baseUrl = "http://${host}:${toString port}/v1";
    api = "openai-completions";
    # OpenClaw resolves `${VAR}` itself, from its own environment; a literal
    # token is never copied into OpenClaw's config: it is named
    # CLAWGATE_TOKEN there instead.
    apiKey =
      if token == null then
        "clawgate-local"
      else if builtins.match "\\$\\{[A-Z_][A-Z0-9_]*}" token != null then
        token
      else
        "\${CLAWGATE_TOKEN}";
    models = map entry chain;
  };
in
{
  inherit chain primary provider;
  snippet = {
    models = {
      mode = "merge";
      providers.clawgate = provider;
    };
    agents.defaults.model = { inherit primary; };
  };
}
