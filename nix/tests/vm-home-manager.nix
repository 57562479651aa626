# NixOS VM test: the home-manager user service for a lingering user, with
# reload and restart after a crash.
{
  pkgs,
  self,
  home-manager,
}:
let
  fixture = import ./fixture.nix;
  mock = "${self.packages.${pkgs.stdenv.hostPlatform.system}.clawgate-mock}/bin/clawgate-mock";
  user = "su -l alice -c 'XDG_RUNTIME_DIR=/run/user/1000 ";
in
pkgs.testers.runNixOSTest {
  name = "clawgate-home-manager";
  nodes.machine = {
    imports = [ home-manager.nixosModules.home-manager ];
    # As most NixOS users run home-manager: the system's pkgs, packages in
    # the user's profile.
    home-manager.useGlobalPkgs = true;
    home-manager.useUserPackages = true;
    environment.systemPackages = [ pkgs.curl ];
    users.users.alice = {
      isNormalUser = true;
      uid = 1000;
      linger = true;
    };
    # Test-only: the secret is written at boot, before the user manager starts.
    systemd.tmpfiles.rules = [
      "d /home/alice/.config 0700 alice users -"
      "d /home/alice/.config/clawgate 0700 alice users -"
      "f /home/alice/.config/clawgate/secrets.env 0600 alice users - MOCK_KEY=${fixture.secret}"
    ];
    home-manager.users.alice = {
      imports = [ self.homeModules.default ];
      home.stateVersion = "26.05";
      services.clawgate = {
        enable = true;
        environmentFile = "%h/.config/clawgate/secrets.env";
        settings = fixture.mockSettings 9101 9102;
      };
      systemd.user.services.mock-primary = {
        Unit.Before = [ "clawgate.service" ];
        Service.ExecStart = "${mock} --listen 127.0.0.1:9101 --fail-status 429 --fail-type exceeded_current_quota_error";
        Install.WantedBy = [ "default.target" ];
      };
      systemd.user.services.mock-backup = {
        Unit.Before = [ "clawgate.service" ];
        Service.ExecStart = "${mock} --listen 127.0.0.1:9102 --require-key ${fixture.secret} --reply answer-from-the-fallback";
        Install.WantedBy = [ "default.target" ];
      };
    };
  };

  testScript = ''
    def ask():
        return machine.succeed(
            "curl -sS --fail-with-body -D /tmp/headers -H 'content-type: application/json' "
            + "-d '{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' "
            + "http://127.0.0.1:18700/v1/chat/completions"
        )

    def main_pid():
        return machine.succeed("${user}systemctl --user show -p MainPID --value clawgate.service'").strip()

    machine.wait_for_unit("user@1000.service")
    machine.wait_for_unit("clawgate.service", "alice")
    machine.wait_for_open_port(18700)

    assert "answer-from-the-fallback" in ask()
    assert "x-clawgate-provider: openrouter" in machine.succeed("cat /tmp/headers").lower()

    # Reload keeps serving.
    first = main_pid()
    machine.succeed("${user}systemctl --user reload clawgate.service'")
    machine.wait_until_succeeds("${user}journalctl --user -u clawgate.service --no-pager' | grep -q 'config reloaded'")
    assert "answer-from-the-fallback" in ask()
    assert main_pid() == first, "reload must not restart the process"

    # A crash is followed by a restart.
    machine.succeed(f"kill -9 {first}")
    machine.wait_until_succeeds(
        "${user}systemctl --user is-active clawgate.service' && "
        + f"[ \"$(${user}systemctl --user show -p MainPID --value clawgate.service')\" != {first} ]"
    )
    machine.wait_for_open_port(18700)
    assert "answer-from-the-fallback" in ask()

    # As alice: her journal is hers (root's --user-unit view proved unreliable
    # under Debian's systemd in tests/systemd/run.sh).
    journal = machine.succeed("${user}journalctl --user -u clawgate.service --no-pager -o verbose'")
    assert "exceeded_current_quota_error" in journal, journal
    assert "${fixture.secret}" not in journal, "the secret leaked into the journal"
    machine.succeed("${user}systemctl --user status clawgate.service'")
  '';
}
