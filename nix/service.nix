# The one definition of the clawgate systemd service, shared by the
# home-manager module, the NixOS module and the Debian systemd test, so they
# cannot drift. Pure: it uses builtins only, so it evaluates without nixpkgs.
#
# Returns the unit as sections ({ Unit, Service, Install }), the shape
# home-manager's systemd.user.services takes; the NixOS module maps it onto
# systemd.services.
{
  # The command line, starting with the clawgate executable.
  command,
  # Paths (or strings with systemd specifiers, such as "%h/...") of files in
  # EnvironmentFile= syntax holding the secrets.
  environmentFiles ? [ ],
  # An executable that sends signals, for ExecReload.
  kill,
  # true for the system manager: adds the namespace sandboxing that user
  # managers do not offer the same way.
  system ? false,
  # Extra variables as NAME = value.
  environment ? { },
  # Store paths whose change should reload the service (home-manager's
  # X-Reload-Triggers; the unit handles SIGHUP). A changed ExecStart (a new
  # package) still restarts it.
  reloadTriggers ? [ ],
}:
let
  # One ExecStart word: quoted when it holds characters systemd would split
  # on or interpret. `%` stays as is so that specifiers such as %h work.
  quote =
    word:
    if builtins.match "[A-Za-z0-9_@%+=:,./-]+" word != null then
      word
    else
      "\"" + builtins.replaceStrings [ "\\" "\"" ] [ "\\\\" "\\\"" ] word + "\"";

  # A user manager's service also names its env files to clawgate, which
  # reads them again on each reload, so a key changed there is taken then
  # (the copy EnvironmentFile= gave the process at start yields to the
  # file). A system service's user may not read them (root's files): it
  # takes them from systemd, at start.
  envFileArgs = if system then [ ] else builtins.concatMap (file: [ "--env-file" file ]) environmentFiles;

  # Settings that work in user and system managers alike (seccomp-based).
  common = {
    Type = "notify";
    ExecStart = builtins.concatStringsSep " " (map quote (command ++ envFileArgs));
    ExecReload = "${kill} -HUP $MAINPID";
    Restart = "on-failure";
    RestartSec = 2;
    # clawgate pings every WatchdogSec/2 from its request runtime.
    WatchdogSec = 30;
    # Above the default gateway.shutdownGraceSeconds (30) so the drain ends
    # before systemd's SIGKILL.
    TimeoutStopSec = 45;
    # One descriptor per client connection and one per request in flight:
    # well above the defaults (gateway.limits: 4096 connections, 1024
    # requests) so the limits, not the kernel, bound them.
    LimitNOFILE = 65536;
    EnvironmentFile = environmentFiles;
    Environment = map (name: "${name}=${environment.${name}}") (builtins.attrNames environment);
    UMask = "0077";
    # The usage ledger's home: /var/lib/clawgate for the system manager
    # (the NixOS module passes it as CLAWGATE_STATE_DIR), ~/.local/state/clawgate
    # for user managers from systemd 254 on, which is also where clawgate and
    # `clawgate usage` look by default (clawgate creates it, 0700, on an
    # older manager, whose StateDirectory= is ~/.config/clawgate instead).
    StateDirectory = "clawgate";
    StateDirectoryMode = "0700";
    NoNewPrivileges = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
    ];
  };

  # Namespace sandboxing for the system manager.
  systemOnly = {
    DynamicUser = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateUsers = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    ProtectProc = "invisible";
    ProcSubset = "pid";
    RestrictNamespaces = true;
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    RemoveIPC = true;
  };
in
{
  Unit = {
    Description = "clawgate, an OpenAI-compatible gateway for Kimi with fallbacks";
    StartLimitIntervalSec = 60;
    StartLimitBurst = 5;
  }
  // (
    if system then
      {
        After = [ "network-online.target" ];
        Wants = [ "network-online.target" ];
      }
    else
      { }
  )
  // (if reloadTriggers != [ ] then { X-Reload-Triggers = reloadTriggers; } else { });

  Service = common // (if system then systemOnly else { });

  Install.WantedBy = [ (if system then "multi-user.target" else "default.target") ];
}
