# Pure checks of the shared service definition: evaluate with
#   nix-instantiate --eval --strict nix/tests/service.nix
# It returns the number of checks and throws on the first that fails.
let
  service = import ../service.nix;
  render = import ../unit-file.nix;

  user = service {
    command = [
      "/bin/clawgate"
      "serve"
      "--config"
      "%h/.config/clawgate/config.json"
      "--log-level"
      "info,clawgate=debug"
      "it's quoted"
    ];
    environmentFiles = [ "-%h/.config/clawgate/secrets.env" ];
    kill = "/bin/kill";
    environment.CLAWGATE_STATE_DIR = "%S/clawgate";
    reloadTriggers = [ "/nix/store/0000-config.json" ];
  };
  system = service {
    command = [ "/bin/clawgate" "serve" ];
    kill = "/bin/kill";
    system = true;
  };
  userUnit = render user;
  systemUnit = render system;

  has = text: line: builtins.elem line (builtins.filter builtins.isString (builtins.split "\n" text));
  checks = [
    {
      name = "user unit is Type=notify with a reload and a watchdog";
      ok = has userUnit "Type=notify" && has userUnit "ExecReload=/bin/kill -HUP $MAINPID" && has userUnit "WatchdogSec=30";
    }
    {
      name = "ExecStart keeps specifiers and quotes what needs it";
      ok = has userUnit ''ExecStart=/bin/clawgate serve --config %h/.config/clawgate/config.json --log-level info,clawgate=debug "it's quoted" --env-file -%h/.config/clawgate/secrets.env'';
    }
    {
      name = "both units allow the descriptors the documented limits need";
      ok = has userUnit "LimitNOFILE=65536" && has systemUnit "LimitNOFILE=65536";
    }
    {
      name = "secrets come from the EnvironmentFile, which a user unit's clawgate reads again on reload";
      ok = has userUnit "EnvironmentFile=-%h/.config/clawgate/secrets.env";
    }
    {
      name = "environment variables render one per line";
      ok = has userUnit "Environment=CLAWGATE_STATE_DIR=%S/clawgate" && has userUnit "StateDirectory=clawgate" && has userUnit "StateDirectoryMode=0700";
    }
    {
      name = "lists become repeated keys";
      ok = has userUnit "RestrictAddressFamilies=AF_INET" && has userUnit "RestrictAddressFamilies=AF_UNIX";
    }
    {
      name = "user units start with the user's session";
      ok = has userUnit "WantedBy=default.target" && !(has userUnit "After=network-online.target");
    }
    {
      name = "user units carry no namespace sandboxing";
      ok = !(has userUnit "ProtectSystem=strict") && !(has userUnit "DynamicUser=true");
    }
    {
      name = "a config change reloads (X-Reload-Triggers), it does not restart";
      ok = has userUnit "X-Reload-Triggers=/nix/store/0000-config.json" && !(has userUnit "X-Restart-Triggers=/nix/store/0000-config.json");
    }
    {
      name = "system units are fully sandboxed";
      ok = has systemUnit "DynamicUser=true" && has systemUnit "ProtectSystem=strict" && has systemUnit "StateDirectory=clawgate" && has systemUnit "CapabilityBoundingSet=";
    }
    {
      name = "system units wait for the network and start at boot";
      ok = has systemUnit "After=network-online.target" && has systemUnit "WantedBy=multi-user.target";
    }
    {
      name = "both kinds share the seccomp hardening";
      ok = builtins.all (line: has userUnit line && has systemUnit line) [
        "NoNewPrivileges=true"
        "MemoryDenyWriteExecute=true"
        "SystemCallFilter=@system-service"
        "UMask=0077"
      ];
    }
    {
      name = "empty lists are dropped";
      ok = !(has systemUnit "EnvironmentFile=");
    }
    {
      name = "a system unit takes its env files from systemd alone (its user may not read them)";
      ok =
        let
          unit = render (service {
            command = [ "/bin/clawgate" "serve" ];
            environmentFiles = [ "/run/keys/clawgate.env" ];
            kill = "/bin/kill";
            system = true;
          });
        in
        has unit "EnvironmentFile=/run/keys/clawgate.env" && has unit "ExecStart=/bin/clawgate serve";
    }
  ];
  failed = builtins.filter (check: !check.ok) checks;
in
if failed == [ ] then
  builtins.length checks
else
  throw "nix/tests/service.nix: failed: ${builtins.concatStringsSep "; " (map (c: c.name) failed)}\n--- user unit ---\n${userUnit}"
