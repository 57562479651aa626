# What the home-manager and NixOS modules share: the options both declare and
# the validated config file. The modules themselves only wire these up.
{
  lib,
  pkgs,
  # pkgs -> the flake's clawgate; null to use pkgs.clawgate (the overlay).
  defaultPackage ? null,
}:
let
  inherit (lib) mkOption mkEnableOption types literalExpression;
  json = pkgs.formats.json { };

  modelRef = types.strMatching "[^/]+/.+" // {
    description = "model ref (provider/model-id) or alias";
  };

  provider = types.submodule {
    freeformType = json.type;
    options = {
      baseUrl = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "https://api.moonshot.ai/v1";
        description = ''
          The provider's OpenAI-compatible base URL; may be left out for the
          built-in providers (moonshot, kimi, openrouter).
        '';
      };
      apiKey = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "\${MOONSHOT_API_KEY}";
        description = ''
          The key, as a `''${VAR}` reference to a variable from
          `environmentFile`. A literal key here would land in the Nix store.
        '';
      };
    };
  };
in
{
  options = {
    enable = mkEnableOption "clawgate, an OpenAI-compatible gateway for Kimi with fallbacks";

    package = mkOption {
      type = types.package;
      default = if defaultPackage == null then pkgs.clawgate else defaultPackage pkgs;
      defaultText = literalExpression "the clawgate flake's package";
      description = "The clawgate package.";
    };

    settings = mkOption {
      type = types.submodule {
        freeformType = json.type;
        options = {
          gateway.port = mkOption {
            type = types.port;
            default = 18700;
            description = "Port to listen on.";
          };
          gateway.bind = mkOption {
            type = types.str;
            default = "127.0.0.1";
            description = "Address to listen on; a non-loopback address needs gateway.auth.token.";
          };
          models.providers = mkOption {
            type = types.attrsOf provider;
            default = { };
            description = ''
              Providers by id, merged with clawgate's built-in catalog
              (moonshot, kimi, openrouter) unless `models.mode` is "replace".
            '';
          };
          agents.defaults.model.primary = mkOption {
            type = modelRef;
            default = "moonshot/kimi-k2.6";
            description = "The model that answers requests that name none.";
          };
          agents.defaults.model.fallbacks = mkOption {
            type = types.listOf modelRef;
            default = [ "openrouter/moonshotai/kimi-k2.6" ];
            description = "Models tried in order when the primary fails.";
          };
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

    environmentFile = mkOption {
      type = with types; coercedTo (either path str) lib.toList (listOf (either path str));
      default = [ ];
      example = "%h/.config/clawgate/secrets.env";
      description = ''
        File(s) in systemd EnvironmentFile= syntax with the API keys
        (`MOONSHOT_API_KEY=sk-...`). Strings may use systemd specifiers such
        as `%h`; a leading `-` makes a file optional. Never a store path:
        the store is world-readable.
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

  # The settings as a JSON file, checked by clawgate itself at build time
  # (offline: the build sandbox has no secrets and no network).
  configFile =
    package: settings:
    let
      # Unset typed options are null; in clawgate's schema that means absent.
      raw = json.generate "clawgate-config.json" (lib.filterAttrsRecursive (_: value: value != null) settings);
    in
    pkgs.runCommand "clawgate-config.json" { nativeBuildInputs = [ package ]; } ''
      clawgate config validate --offline --config ${raw}
      cp ${raw} $out
    '';

  # Assertions that no environment file is a store path.
  secretAssertions =
    files:
    map (file: {
      assertion = !(lib.hasPrefix builtins.storeDir (lib.removePrefix "-" (toString file)));
      message = "services.clawgate.environmentFile: ${toString file} is in the Nix store, which every user can read; point it at a file outside the store";
    }) files;

  # The command line shared by both modules.
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
