# home-manager module: services.clawgate as a user service, a systemd user
# unit on Linux and a launchd agent on macOS, both from the same generated
# config; and services.clawgate.openclaw, the one line that wires clawgate
# into nix-openclaw's programs.openclaw.
{
  config,
  lib,
  pkgs,
  options,
  ...
}:
let
  cfg = config.services.clawgate;
  common = import ./common.nix { inherit lib pkgs; };
  configFile = common.configFile cfg.package cfg.settings;
  configPath = "${config.xdg.configHome}/clawgate/config.json";
  inherit (pkgs.stdenv.hostPlatform) isDarwin isLinux;
  home = config.home.homeDirectory;

  # launchd knows no systemd specifiers: %h becomes the home directory, and
  # the optional-file marker `-` is dropped (clawgate then needs the file).
  launchdPath =
    file:
    builtins.replaceStrings [ "%h" "%%" ] [ home "%" ] (lib.removePrefix "-" (toString file));
  agentConfig = import ./launchd.nix {
    command = common.command cfg configPath;
    environmentFiles = map launchdPath cfg.environmentFile;
    logFile = "${home}/Library/Logs/clawgate.log";
    # Where `clawgate usage` looks too when XDG_STATE_HOME is that directory.
    stateDir = "${config.xdg.stateHome or "${home}/.local/state"}/clawgate";
  };
  label = config.launchd.agents.clawgate.config.Label;

  # nix-openclaw's home-manager module, when imported.
  hasOpenclaw = lib.hasAttrByPath [ "programs" "openclaw" "config" ] options;
  openclaw = common.openclaw cfg.settings;
  wireOpenclaw = cfg.enable && cfg.openclaw.enable;
in
{
  _class = "homeManager";

  options.services.clawgate = common.options // {
    openclaw = common.openclawOptions;
  };

  config = lib.mkMerge [
    { services.clawgate.openclaw.provider = openclaw.provider; }

    (lib.mkIf (cfg.enable && cfg.telemetry.enable) {
      services.clawgate.settings.gateway.telemetry = common.telemetrySettings cfg.telemetry;
    })

    (lib.mkIf cfg.enable {
      assertions = common.secretAssertions cfg.environmentFile ++ common.extraArgsAssertions cfg.extraArgs ++ common.storeAssertions cfg.settings ++ [
        {
          assertion = !cfg.openclaw.enable || hasOpenclaw;
          message = "services.clawgate.openclaw.enable needs nix-openclaw's home-manager module (programs.openclaw): add its homeManagerModules.openclaw to your imports, or use services.clawgate.openclaw.provider yourself";
        }
        {
          assertion = isLinux || isDarwin;
          message = "services.clawgate runs as a systemd user service (Linux) or a launchd agent (macOS); ${pkgs.stdenv.hostPlatform.system} has neither";
        }
      ];
      warnings = common.secretWarnings cfg.settings;

      # `clawgate models list` and friends read the same file by default.
      home.packages = [ cfg.package ];
      xdg.configFile."clawgate/config.json" = {
        source = configFile;
        # launchd has no reload of its own: tell the running agent.
        onChange = lib.optionalString isDarwin ''
          if /bin/launchctl print "gui/$UID/${label}" >/dev/null 2>&1; then
            run /bin/launchctl kill SIGHUP "gui/$UID/${label}"
          fi
        '';
      };
    })

    (lib.mkIf (cfg.enable && isLinux) {
      systemd.user.services.clawgate = import ./service.nix {
        command = common.command cfg configPath;
        environmentFiles = map toString cfg.environmentFile;
        kill = "${pkgs.coreutils}/bin/kill";
        reloadTriggers = [ "${configFile}" ];
      };
    })

    (lib.mkIf (cfg.enable && isDarwin) {
      launchd.agents.clawgate = {
        enable = true;
        config = agentConfig;
      };
    })

    (lib.optionalAttrs hasOpenclaw (
      lib.mkIf wireOpenclaw (
        let
          oc = config.programs.openclaw;
          instances = lib.filterAttrs (_: inst: inst.enable) (oc.instances or { });
          # The user units nix-openclaw defines (Linux, systemd enabled).
          units =
            if (oc.instances or { }) != { } then
              lib.mapAttrsToList (_: inst: inst.systemd.unitName) (
                lib.filterAttrs (_: inst: inst.systemd.enable) instances
              )
            else
              lib.optional (oc.enable && oc.systemd.enable) oc.systemd.unitName;
        in
        {
          programs.openclaw.config = {
            models.providers.clawgate = openclaw.provider;
            # A default: OpenClaw's own setting wins.
            agents.defaults.model = lib.mkDefault { primary = openclaw.primary; };
          };
          systemd.user.services = lib.mkIf isLinux (
            lib.genAttrs units (_: {
              Unit = {
                After = [ "clawgate.service" ];
                Wants = [ "clawgate.service" ];
              };
            })
          );
        }
      )
    ))
  ];
}
