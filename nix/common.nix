# What the home-manager and NixOS modules share: the options both declare,
# the validated config file, the literal-secret warnings and the OpenClaw
# provider entry. The modules themselves only wire these up.
#
# The typed options cover only the keys the modules read themselves; every
# level is freeform JSON, so any config the binary accepts (OpenClaw's keys,
# aliases, the string form of agents.defaults.model) is accepted here, and
# the binary validates the generated file at build time. Nothing is added to
# the file beyond what the user wrote and the documented gateway defaults:
# the default chain is the binary's own, applied when no model is set, so
# `models.mode = "replace"` means replace.
{
  lib,
  pkgs,
}:
let
  inherit (lib)
    mkOption
    mkEnableOption
    types
    literalExpression
    ;
  json = pkgs.formats.json { };
  catalog = builtins.fromJSON (builtins.readFile ../src/catalog/catalog.json);

  # A level of the config: freeform JSON plus the typed options given.
  section =
    options:
    types.submodule {
      freeformType = json.type;
      inherit options;
    };
  nullOr =
    type: description:
    mkOption {
      type = types.nullOr type;
      default = null;
      inherit description;
    };

  # A `provider/model-id` ref or an alias from agents.defaults.models; the
  # binary checks which at build time.
  modelName = types.nonEmptyStr // {
    description = "model ref (provider/model-id) or alias";
  };
  # A place of the chain: a ref, or a list of equivalent refs (a pool, of
  # which each session is placed on one).
  place = types.either modelName (types.nonEmptyListOf modelName) // {
    description = "model ref or alias, or a non-empty list of them (a pool)";
  };
  chain = section {
    primary = nullOr place "The model that answers requests that name none, or a pool of equivalent ones.";
    fallbacks = nullOr (types.listOf place) "Models (or pools) tried in order when the primary fails.";
  };

  provider = section {
    baseUrl = nullOr types.str ''
      The provider's OpenAI-compatible base URL; may be left out for the
      built-in providers (moonshot, kimi, openrouter).
    '';
    apiKey = nullOr types.str ''
      The key, as a `''${VAR}` reference to a variable from
      `environmentFile`. A literal key here lands in the Nix store, which
      every user can read: the modules warn about it.
    '';
    maxConcurrent =
      nullOr
        (types.oneOf [
          (types.enum [ false ])
          (types.ints.between 1 10000)
          (section {
            requests = nullOr (types.ints.between 1 10000) "Requests sent at once (the binary's default: 30 for Kimi Coding).";
            waitSeconds = nullOr types.number "Seconds a request waits for a place, 0 to 60 (the binary's default: 2).";
          })
        ])
        ''
          Requests sent to the provider at once; over it a request waits a
          moment for a place, then goes to the next target as a skip. A
          number, false (no cap) or { requests, waitSeconds }; the binary's
          default is 30 for Kimi Coding, no cap otherwise.
        '';
  };

  # A budget: USD per UTC day, week (from Monday) or month.
  budgetLimits = {
    daily = nullOr types.number "USD per UTC day.";
    weekly = nullOr types.number "USD per week (Monday to Sunday, UTC).";
    monthly = nullOr types.number "USD per calendar month (UTC).";
  };
  # gateway.budgets, and each client's budgets.
  budgets = section (
    budgetLimits
    // {
      providers = mkOption {
        type = types.attrsOf (section budgetLimits);
        default = { };
        description = "Budgets per provider id.";
      };
      models = mkOption {
        type = types.attrsOf (section budgetLimits);
        default = { };
        description = "Budgets per model ref (provider/model-id).";
      };
      unpriced = nullOr (types.enum [
        "refuse"
        "allow"
      ]) ''What a budget does with a model that has no price: "refuse" (the binary's default) or "allow" (counted apart, never as $0).'';
    }
  );

  # gateway.clients.<name>: a key per client with its own models, budgets
  # and limits.
  client = section {
    key = mkOption {
      type = types.strMatching "(\\$\\{[A-Za-z_][A-Za-z0-9_]*}|sha256:[0-9a-fA-F]{64})";
      description = ''
        The client's key: `''${VAR}` with VAR in `environmentFile`, or
        `sha256:` and the 64 hex digits of the key's SHA-256
        (`printf %s "$KEY" | sha256sum`). Never the key itself: the config
        is in the world-readable Nix store.
      '';
    };
    admin = nullOr types.bool "Reads every client's usage and status, opens the status page (the binary's default: false).";
    models = nullOr (types.listOf modelName) "The refs and aliases the client may use (the binary's default: all).";
    budgets = mkOption {
      type = budgets;
      default = { };
      description = "The client's own budgets, in the shape of gateway.budgets.";
    };
    limits = mkOption {
      type = section {
        requestsPerMinute = nullOr types.ints.positive "Requests per minute; beyond it 429 with Retry-After.";
        tokensPerMinute = nullOr types.ints.positive "Input and output tokens per minute: its estimated input and output limit are reserved when the body is read (429 while the client is in debt), and what it used takes their place when it ends.";
        concurrentRequests = nullOr types.ints.positive "Requests answered at once for this client.";
      };
      default = { };
      description = "The client's limits (none by default).";
    };
  };

  isReference = value: builtins.isString value && lib.hasInfix "\${" value;
  # The whole value is one `''${VAR}`.
  isWholeReference = value: builtins.match "\\$\\{[A-Za-z_][A-Za-z0-9_]*}" value != null;

  # Whether a ledger.store URL carries a password written out: in its
  # userinfo (`user:password@`) or as `password=`, unless that password is
  # itself a `''${VAR}`. A URL that is a `''${VAR}` as a whole has none.
  literalStorePassword =
    url: builtins.any (password: password != "" && !(isWholeReference password)) (storePasswords url);
  # The passwords a store URL writes: its userinfo's and its `password=`.
  storePasswords =
    url:
    let
      parts = builtins.match "[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)(.*)" url;
      authority = builtins.elemAt parts 0;
      rest = builtins.elemAt parts 1;
      userinfo = builtins.match "(.*)@[^@]*" authority;
      inUserinfo = if userinfo == null then null else builtins.match "[^:]*:(.*)" (builtins.head userinfo);
      inQuery = builtins.match "[^?#]*[?]([^#]*&)?password=([^&#]*).*" rest;
    in
    lib.optionals (parts != null) (
      lib.optional (inUserinfo != null) (builtins.head inUserinfo)
      ++ lib.optional (inQuery != null) (builtins.elemAt inQuery 1)
    );
  storeMessage = "services.clawgate.settings.ledger.store: the URL holds a password, which would land in the world-readable Nix store; write \"\${CLAWGATE_LEDGER_URL}\" and put CLAWGATE_LEDGER_URL=postgresql://... in services.clawgate.environmentFile, or use peer authentication over the Unix socket (NixOS: services.clawgate.database.createLocally)";
  isLiteral = value: builtins.isString value && value != "" && !(isReference value);
  credentialName =
    name:
    let
      lower = lib.toLower name;
    in
    lower == "authorization"
    || builtins.any (word: lib.hasInfix word lower) [
      "key"
      "token"
      "secret"
      "auth"
      "password"
    ];
  # Header values under `path` that look like credentials and are literal.
  literalHeaders =
    path: headers:
    lib.mapAttrsToList (name: _: "${path}.headers.${name}") (
      lib.filterAttrs (name: value: credentialName name && isLiteral value) (
        if builtins.isAttrs headers then headers else { }
      )
    );
in
rec {
  inherit catalog;

  options = {
    enable = mkEnableOption "clawgate, an OpenAI-compatible gateway for Kimi with fallbacks";

    # The flake's modules set this to the flake's own package (mkDefault);
    # with the overlay, pkgs.clawgate is the same build.
    package = lib.mkPackageOption pkgs "clawgate" { };

    settings = mkOption {
      type = section {
        gateway = mkOption {
          type = section {
            port = mkOption {
              type = types.port;
              default = 18700;
              description = "Port to listen on (the binary's default).";
            };
            bind = mkOption {
              type = types.str;
              default = "127.0.0.1";
              description = "Address to listen on; a non-loopback address needs gateway.auth.token (at least 16 characters) or gateway.clients.";
            };
            clients = mkOption {
              type = types.attrsOf client;
              default = { };
              example = literalExpression ''
                {
                  alice = {
                    key = "''${ALICE_KEY}";
                    limits.requestsPerMinute = 60;
                  };
                  ci = {
                    key = "sha256:34b089c4832360d95d0e0a0e4ddfc0ecee99618b66504ef9cb11c6f1fbdcb6c1";
                    models = [ "moonshot/kimi-k2.6" ];
                    budgets.daily = 2;
                    limits.concurrentRequests = 2;
                  };
                }
              '';
              description = ''
                Clients by name, each with its own key (from
                `environmentFile`, or its SHA-256), models, budgets and
                limits; see docs/clients.md. `gateway.auth.token` stays the
                one-client form and an admin key.
              '';
            };
            budgets = mkOption {
              type = budgets;
              default = { };
              example = literalExpression ''
                {
                  daily = 5;
                  providers.openrouter.monthly = 20;
                }
              '';
              description = ''
                Spending limits in USD, checked before each call against the
                usage ledger: a target whose budget is spent is skipped like
                a cooling one, and with none left clients get 402
                budget_exceeded. Days, weeks and months are UTC.
              '';
            };
          };
          default = { };
          description = "The gateway section; `port` and `bind` are typed, the rest is passed through.";
        };
        models = mkOption {
          type = section {
            mode = nullOr (types.enum [
              "merge"
              "replace"
            ]) ''"merge" (the binary's default) keeps the built-in providers; "replace" uses only those listed.'';
            providers = mkOption {
              type = types.attrsOf provider;
              default = { };
              description = ''
                Providers by id, merged with clawgate's built-in catalog
                (moonshot, kimi, openrouter) unless `models.mode` is "replace".
              '';
            };
          };
          default = { };
          description = "The models section.";
        };
        ledger = mkOption {
          type = section {
            enabled = nullOr types.bool "Record every request in the usage ledger (the binary's default: true).";
            path = nullOr types.str ''
              The ledger database (default: ledger.db in the state directory,
              /var/lib/clawgate for the system service). Absolute.
            '';
            retentionDays = nullOr types.ints.positive "Days raw rows are kept (the binary's default: 90); daily totals are kept for ever.";
            store = nullOr types.nonEmptyStr ''
              A PostgreSQL database shared by several gateways instead of the
              SQLite file (docs/several-instances.md): `"''${CLAWGATE_LEDGER_URL}"`
              with `CLAWGATE_LEDGER_URL=postgresql://...` in `environmentFile`,
              or a URL without a password (peer authentication over the Unix
              socket). A password written in the URL fails evaluation: it
              would land in the world-readable Nix store. On NixOS,
              `database.createLocally` sets it.
            '';
          };
          default = { };
          description = "The usage ledger (clawgate usage, /v1/usage, the status page, budgets).";
        };
        agents = mkOption {
          type = section {
            defaults = mkOption {
              type = section {
                model = nullOr (types.either modelName chain) ''
                  The chain: a ref or alias (OpenClaw's string form), or
                  `{ primary, fallbacks }`. Unset, the binary uses its
                  built-in chain moonshot/kimi-k2.6 -> openrouter/moonshotai/kimi-k2.6.
                '';
              };
              default = { };
              description = "agents.defaults: model, models (aliases, params), thinkingDefault.";
            };
          };
          default = { };
          description = "The agents section.";
        };
      };
      default = { };
      example = literalExpression ''
        {
          agents.defaults.model = {
            primary = "kimi/kimi-for-coding";
            fallbacks = [ "openrouter/moonshotai/kimi-k2.6" ];
          };
        }
      '';
      description = ''
        clawgate's config (the OpenClaw `models`/`agents` shape), written as
        JSON and validated at build time with `clawgate config validate
        --offline`. Keys go in `environmentFile`, referenced as `''${VAR}`.
      '';
    };

    telemetry = {
      enable = mkEnableOption ''
        OpenTelemetry traces over OTLP/HTTP (`settings.gateway.telemetry`):
        a span per request and per upstream attempt, by the GenAI semantic
        conventions, to Arize Phoenix, Jaeger or any OTLP collector. Export
        headers (an API key) go in `environmentFile` as
        `OTEL_EXPORTER_OTLP_HEADERS=name=value`, never in the store'';
      endpoint = nullOr types.nonEmptyStr ''
        The collector's OTLP/HTTP base URL (`/v1/traces` is appended), such
        as "http://127.0.0.1:6006" for Phoenix or "http://127.0.0.1:4318"
        for Jaeger or an OpenTelemetry Collector. Unset, the service reads
        `OTEL_EXPORTER_OTLP_ENDPOINT` from `environmentFile`.
      '';
      serviceName = nullOr types.nonEmptyStr ''The spans' `service.name` (the binary's default: "clawgate", or `OTEL_SERVICE_NAME`).'';
      sampleRatio = nullOr (types.numbers.between 0 1) "The share of requests traced (the binary's default: 1); a client's sampled `traceparent` is always followed.";
      captureContent = nullOr types.bool "Export prompts and completions in the spans, scrubbed of the configured keys (the binary's default: false).";
      metrics = nullOr types.bool "Also send the GenAI histograms over OTLP (`/v1/metrics`) every minute (the binary's default: false; Phoenix takes traces only).";
    };

    environmentFile = mkOption {
      type = with types; coercedTo (either path str) lib.toList (listOf (either path str));
      default = [ ];
      example = "%h/.config/clawgate/secrets.env";
      description = ''
        File(s) in systemd EnvironmentFile= syntax with the API keys
        (`MOONSHOT_API_KEY=sk-...`). Strings may use `%h` for the home
        directory; a leading `-` makes a file optional (systemd only). Never
        a store path: the store is world-readable.
      '';
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra arguments for `clawgate serve`.";
    };

    logLevel = mkOption {
      type = types.str;
      default = "info";
      example = "info,clawgate=debug";
      description = "Log level or tracing filter.";
    };
  };

  # `services.clawgate.telemetry` as `settings.gateway.telemetry`: the keys
  # set (none when only `enable` is: the environment file's OTEL_*
  # variables then say where traces go).
  telemetrySettings =
    telemetry:
    lib.filterAttrs (_: v: v != null) {
      inherit (telemetry)
        endpoint
        serviceName
        sampleRatio
        captureContent
        metrics
        ;
    };

  # The settings as written: without the nulls of unset typed options (in
  # clawgate's schema, absent) and the empty sections they leave behind.
  cleanSettings =
    let
      prune =
        value:
        if builtins.isAttrs value then
          lib.filterAttrs (_: v: v != null && v != { }) (builtins.mapAttrs (_: prune) value)
        else
          value;
    in
    prune;

  # The settings as a JSON file, checked by clawgate itself at build time
  # (offline: the build sandbox has no secrets and no network).
  # A ledger.store with a password written out is refused here as well as
  # by the modules' assertion: whatever forces the file, the password never
  # reaches the store.
  configFile =
    package: settings:
    let
      clean = cleanSettings settings;
      raw = json.generate "clawgate-config.json" clean;
    in
    if literalStoreInSettings clean then
      throw storeMessage
    else
      pkgs.runCommand "clawgate-config.json"
      {
        nativeBuildInputs = [ package ];
        passthru.settings = clean;
      }
      ''
        clawgate config validate --offline --config ${raw}
        cp ${raw} $out
      '';

  literalStoreInSettings =
    settings:
    let
      store = lib.attrByPath [ "ledger" "store" ] null (cleanSettings settings);
    in
    builtins.isString store && literalStorePassword store;

  # The assertion that ledger.store holds no password written out.
  storeAssertions = settings: [
    {
      assertion = !(literalStoreInSettings settings);
      message = storeMessage;
    }
  ];

  inStore = file: lib.hasPrefix builtins.storeDir (lib.removePrefix "-" (toString file));

  # Assertions that no environment file is a store path.
  secretAssertions =
    files:
    map (file: {
      assertion = !(inStore file);
      message = "services.clawgate.environmentFile: ${toString file} is in the Nix store, which every user can read; point it at a file outside the store";
    }) files;

  # The files `--env-file` names in extraArgs (`--env-file PATH` or
  # `--env-file=PATH`).
  envFilesInArgs =
    args:
    lib.concatLists (
      lib.imap0 (
        i: arg:
        if arg == "--env-file" then
          lib.optional (i + 1 < builtins.length args) (builtins.elemAt args (i + 1))
        else if lib.hasPrefix "--env-file=" arg then
          [ (lib.removePrefix "--env-file=" arg) ]
        else
          [ ]
      ) args
    );

  # The same assertion for an env file passed through extraArgs.
  extraArgsAssertions =
    args:
    map (file: {
      assertion = !(inStore file);
      message = "services.clawgate.extraArgs: --env-file ${file} is in the Nix store, which every user can read; point it at a file outside the store (services.clawgate.environmentFile)";
    }) (envFilesInArgs args);

  # The settings paths that hold a literal secret: a provider's apiKey, the
  # gateway token, credential-looking headers (provider and model level) and
  # the variables of the `env` block that look like credentials or that
  # any of those use as `${VAR}`, or ledger.store with a password in it.
  # `${VAR}` itself never counts.
  literalSecrets =
    settings:
    let
      s = cleanSettings settings;
      providers = lib.attrByPath [ "models" "providers" ] { } s;
      env = s.env or { };
      envVars = lib.filterAttrs (name: value: name != "vars") env // (if builtins.isAttrs (env.vars or null) then env.vars else { });
      credentialHeaderValues =
        headers:
        if builtins.isAttrs headers then
          lib.attrValues (lib.filterAttrs (name: _: credentialName name) headers)
        else
          [ ];
      # Every value that is a credential when `${VAR}` is substituted in it.
      credentialValues =
        [ (lib.attrByPath [ "gateway" "auth" "token" ] null s) ]
        ++ lib.concatLists (
          lib.mapAttrsToList (
            _: p:
            [ (p.apiKey or null) ]
            ++ credentialHeaderValues (p.headers or null)
            ++ lib.concatMap (m: credentialHeaderValues (m.headers or null)) (
              if builtins.isList (p.models or null) then p.models else [ ]
            )
          ) providers
        );
      varsIn =
        value:
        if builtins.isString value then
          lib.concatLists (builtins.filter builtins.isList (builtins.split "\\$\\{([A-Za-z_][A-Za-z0-9_]*)}" value))
        else
          [ ];
      referencedVars = lib.concatMap varsIn credentialValues;
      # The variables ledger.store names: a secret where the URL holds a
      # password; and those its password names, the password alone.
      store = lib.attrByPath [ "ledger" "store" ] null s;
      storeVars = varsIn store;
      storePasswordVars = lib.concatMap varsIn (if builtins.isString store then storePasswords store else [ ]);
    in
    lib.optional (isLiteral (lib.attrByPath [ "gateway" "auth" "token" ] null s)) "gateway.auth.token"
    ++ lib.concatLists (
      lib.mapAttrsToList (
        id: p:
        let
          path = "models.providers.${id}";
        in
        lib.optional (isLiteral (p.apiKey or null)) "${path}.apiKey"
        ++ literalHeaders path (p.headers or { })
        ++ lib.concatLists (
          lib.imap0 (i: m: literalHeaders "${path}.models[${toString i}]" (m.headers or { })) (
            if builtins.isList (p.models or null) then p.models else [ ]
          )
        )
      ) providers
    )
    ++ map (name: "env.${name}") (
      lib.attrNames (
        lib.filterAttrs (
          name: value:
          (credentialName name || builtins.elem name referencedVars) && isLiteral value
          || builtins.elem name storeVars && builtins.isString value && literalStorePassword value
          || builtins.elem name storePasswordVars && isLiteral value
        ) envVars
      )
    );

  secretWarnings =
    settings:
    map (
      path:
      "services.clawgate.settings.${path} holds a literal secret, which lands in the world-readable Nix store; write \"\${VAR}\" and put VAR in services.clawgate.environmentFile"
    ) (literalSecrets settings);

  # The OpenClaw provider entry for these settings (nix/openclaw.nix).
  openclaw =
    settings:
    import ./openclaw.nix {
      inherit lib catalog;
      settings = cleanSettings settings;
    };

  openclawOptions = {
    enable = mkEnableOption ''
      writing the `clawgate` provider into nix-openclaw's
      `programs.openclaw.config` (needs nix-openclaw's home-manager module),
      pointing OpenClaw's default model at the chain and ordering OpenClaw's
      user service after clawgate's'';
    provider = mkOption {
      type = json.type;
      readOnly = true;
      description = ''
        The `models.providers.clawgate` entry an OpenClaw config needs to
        use this gateway: base URL with the configured port, the token
        reference, and every model of the chain with its limits, costs and
        the compat flags that let OpenClaw send its thinking level. The same
        JSON as `models.providers.clawgate` in what `clawgate openclaw
        provider` prints.
      '';
    };
  };

  # The command line shared by the units: config, log level, extra args.
  command =
    cfg: configPath:
    [
      (lib.getExe cfg.package)
      "serve"
      "--config"
      configPath
      "--log-level"
      cfg.logLevel
    ]
    ++ cfg.extraArgs;
}
