# The clawgate launchd agent (macOS): the counterpart of nix/service.nix for
# home-manager's `launchd.agents.<name>.config`. Pure: builtins only.
#
# launchd has no EnvironmentFile=, so the command passes each file with
# `--env-file`, which clawgate reads itself (again on SIGHUP): no wrapper
# script. home-manager starts the command through /bin/wait4path, so the
# agent waits for the Nix store volume.
{
  # The command line, starting with the clawgate executable.
  command,
  # Absolute paths of files in EnvironmentFile= syntax.
  environmentFiles ? [ ],
  # Where stdout and stderr go: a file under ~/Library/Logs.
  logFile,
  # The state directory (the usage ledger); clawgate creates it (0700).
  stateDir ? null,
}:
{
  ProgramArguments = command ++ builtins.concatMap (file: [ "--env-file" file ]) environmentFiles;
  RunAtLoad = true;
  # Like Restart=on-failure: a crash restarts it, a clean stop does not.
  KeepAlive.SuccessfulExit = false;
  # Like RestartSec (launchd's minimum is 1 s between starts).
  ThrottleInterval = 2;
  # Like TimeoutStopSec: above the default 30 s drain.
  ExitTimeOut = 45;
  # 0077, as the systemd unit's UMask.
  Umask = 63;
  StandardOutPath = logFile;
  StandardErrorPath = logFile;
}
// (if stateDir != null then { EnvironmentVariables.CLAWGATE_STATE_DIR = stateDir; } else { })
