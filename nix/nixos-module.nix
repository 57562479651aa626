# NixOS module: services.clawgate as a system service with DynamicUser, or
# with the static user `clawgate` when it keeps its ledger in a local
# PostgreSQL (database.createLocally).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.clawgate;
  common = import ./common.nix { inherit lib pkgs; };
  configFile = common.configFile cfg.package cfg.settings;
  configPath = "/etc/clawgate/config.json";
  service = import ./service.nix {
    command = common.command cfg configPath;
    environmentFiles = map toString cfg.environmentFile;
    kill = "${pkgs.coreutils}/bin/kill";
    system = true;
    environment.CLAWGATE_STATE_DIR = "/var/lib/clawgate";
  };
  bind = cfg.settings.gateway.bind;
  loopback =
    builtins.elem bind [
      "localhost"
      "loopback"
      "::1"
    ]
    || lib.hasPrefix "127." bind
    || lib.hasPrefix "::ffff:127." bind;
  token = lib.attrByPath [ "gateway" "auth" "token" ] null cfg.settings;
  # A key is required with the token or any client.
  keyed = token != null || lib.attrByPath [ "gateway" "clients" ] { } cfg.settings != { };
  # A ledger outside the state directory must be writable through
  # ProtectSystem=strict.
  ledgerPath = lib.attrByPath [ "ledger" "path" ] null cfg.settings;
  ledgerDirs = lib.optional (
    ledgerPath != null && !(lib.hasPrefix "/var/lib/clawgate/" ledgerPath)
  ) (dirOf ledgerPath);

  # database.createLocally: a database and a role both named `clawgate`
  # (ensureDBOwnership needs the names equal), reached over the Unix socket
  # with peer authentication. Peer authentication takes the connecting
  # process's user name as the role, as PostgreSQL's server resolves its
  # uid. A DynamicUser's name resolves only while the unit runs, through
  # nss-systemd, and its uid changes with each allocation; a static system
  # user named like the role is always resolvable, whatever the host's NSS
  # setup, so the service runs as that user instead.
  local = cfg.database.createLocally;
  user = "clawgate";
  localStore = "postgresql://${user}@/${user}?host=/run/postgresql";
  # nixpkgs creates roles and databases in postgresql-setup.service, which
  # postgresql.target orders (older nixpkgs: in postgresql.service itself).
  # Wants=, not Requires=: a restarted or stopped PostgreSQL must not stop
  # or restart the gateway, which serves on and writes its queued rows
  # when the database is back (docs/several-instances.md).
  databaseUnits = lib.optionals local [
    "postgresql.service"
    "postgresql.target"
  ];
in
{
  _class = "nixos";

  options.services.clawgate = common.options // {
    credentials = lib.mkOption {
      type = lib.types.attrsOf lib.types.str;
      default = { };
      example = {
        MOONSHOT_API_KEY = "/run/secrets/moonshot";
      };
      description = ''
        Secrets passed with systemd LoadCredential=, by variable name: the
        file's content becomes `''${NAME}` in the config (clawgate reads
        $CREDENTIALS_DIRECTORY). An alternative to environmentFile that keeps
        keys out of the process environment.
      '';
    };
    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Open settings.gateway.port in the firewall. Refused unless the
        gateway binds a non-loopback address and settings.gateway.auth.token
        or settings.gateway.clients is set.
      '';
    };
    database.createLocally = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Keep the usage ledger, budgets' spend and clients' rate counters in
        a PostgreSQL database on this machine: enables services.postgresql
        with the database and role `clawgate` (peer authentication over
        the Unix socket, no password), runs clawgate as the static user
        `clawgate` and sets settings.ledger.store to
        `postgresql://clawgate@/clawgate?host=/run/postgresql`. For a
        database elsewhere, leave this off and set settings.ledger.store to
        `"''${CLAWGATE_LEDGER_URL}"` from environmentFile.
      '';
    };
    openclaw.provider = common.openclawOptions.provider;
  };

  config = lib.mkMerge [
    { services.clawgate.openclaw.provider = (common.openclaw cfg.settings).provider; }

    (lib.mkIf (cfg.enable && cfg.telemetry.enable) {
      services.clawgate.settings.gateway.telemetry = common.telemetrySettings cfg.telemetry;
    })

    (lib.mkIf cfg.enable {
      assertions =
        common.secretAssertions (cfg.environmentFile ++ lib.attrValues cfg.credentials)
        ++ common.extraArgsAssertions cfg.extraArgs
        ++ common.storeAssertions cfg.settings
        ++ [
          {
            assertion = !cfg.openFirewall || (!loopback && keyed);
            message = "services.clawgate.openFirewall: the gateway must bind a non-loopback address (settings.gateway.bind = \"${bind}\") and have settings.gateway.auth.token or settings.gateway.clients set before its port is opened";
          }
        ];
      warnings = common.secretWarnings cfg.settings;

      environment.etc."clawgate/config.json".source = configFile;
      environment.systemPackages = [ cfg.package ];
      environment.variables.CLAWGATE_CONFIG = configPath;
      networking.firewall.allowedTCPPorts = lib.optional cfg.openFirewall cfg.settings.gateway.port;

      systemd.services.clawgate = {
        description = service.Unit.Description;
        after = service.Unit.After ++ databaseUnits;
        wants = service.Unit.Wants ++ databaseUnits;
        wantedBy = service.Install.WantedBy;
        # /etc/clawgate/config.json is re-read on SIGHUP: a new config
        # reloads, a new package restarts (ExecStart changes).
        reloadTriggers = [ configFile ];
        unitConfig = { inherit (service.Unit) StartLimitIntervalSec StartLimitBurst; };
        serviceConfig = service.Service // {
          LoadCredential = lib.mapAttrsToList (name: path: "${name}:${path}") cfg.credentials;
          ReadWritePaths = ledgerDirs;
        }
        // lib.optionalAttrs local {
          DynamicUser = false;
          User = user;
          Group = user;
        };
      };
    })

    (lib.mkIf (cfg.enable && local) {
      # A different store set as well is a conflict the module system
      # reports: the two definitions differ.
      services.clawgate.settings.ledger.store = localStore;
      services.postgresql = {
        enable = true;
        ensureDatabases = [ user ];
        ensureUsers = [
          {
            name = user;
            ensureDBOwnership = true;
          }
        ];
        # nixpkgs' default rules already allow peer over the socket; this
        # line keeps it so for clawgate's role ahead of the user's own.
        authentication = "local ${user} ${user} peer\n";
      };
      users.users.${user} = {
        isSystemUser = true;
        group = user;
        description = "clawgate gateway";
      };
      users.groups.${user} = { };
    })
  ];
}
