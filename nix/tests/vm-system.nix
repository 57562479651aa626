# NixOS VM test: the system service in front of two clawgate-mock upstreams
# whose primary fails; the answer must come from the fallback.
{ pkgs, self }:
let
  fixture = import ./fixture.nix;
  mock = "${self.packages.${pkgs.stdenv.hostPlatform.system}.clawgate-mock}/bin/clawgate-mock";
in
pkgs.testers.runNixOSTest {
  name = "clawgate-system";
  nodes.machine =
    { lib, ... }:
    {
      imports = [ self.nixosModules.default ];
      environment.systemPackages = [ pkgs.curl ];
      # Test-only: the secret is written at boot, before clawgate starts.
      systemd.tmpfiles.rules = [
        "d /run/keys 0700 root root -"
        "f /run/keys/clawgate.env 0600 root root - MOCK_KEY=${fixture.secret}"
      ];
      systemd.services.mock-primary = {
        wantedBy = [ "multi-user.target" ];
        before = [ "clawgate.service" ];
        serviceConfig.ExecStart = "${mock} --listen 127.0.0.1:9001 --fail-status 503";
      };
      systemd.services.mock-backup = {
        wantedBy = [ "multi-user.target" ];
        before = [ "clawgate.service" ];
        serviceConfig.ExecStart = "${mock} --listen 127.0.0.1:9002 --require-key ${fixture.secret} --reply answer-from-the-fallback";
      };
      services.clawgate = {
        enable = true;
        environmentFile = "/run/keys/clawgate.env";
        settings = fixture.mockSettings 9001 9002;
      };
      # Let failures surface instead of restarting.
      systemd.services.clawgate.serviceConfig.Restart = lib.mkForce "no";
    };

  testScript = ''
    machine.wait_for_unit("mock-primary.service")
    machine.wait_for_unit("mock-backup.service")
    machine.wait_for_unit("clawgate.service")
    machine.wait_for_open_port(18700)

    body = machine.succeed(
        "curl -sS --fail-with-body -D /tmp/headers -H 'content-type: application/json' "
        + "-d '{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' "
        + "http://127.0.0.1:18700/v1/chat/completions"
    )
    assert "answer-from-the-fallback" in body, body
    headers = machine.succeed("cat /tmp/headers").lower()
    assert "x-clawgate-provider: openrouter" in headers, headers
    assert "x-clawgate-attempts: 2" in headers, headers

    machine.succeed("systemctl is-active clawgate.service")
    status = machine.succeed("systemctl status clawgate.service")
    assert "serving on 127.0.0.1:18700" in status, status

    journal = machine.succeed("journalctl -u clawgate.service --no-pager -o verbose")
    assert "attempt 1 failed: kimi/kimi-for-coding: provider_error" in journal, journal
    assert "answered by fallback openrouter/moonshotai/kimi-k2.6" in journal, journal
    assert "${fixture.secret}" not in journal, "the secret leaked into the journal"

    # The CLI on the PATH reads the same config ($CLAWGATE_CONFIG in login
    # shells; named here because the test shell is not one).
    listed = machine.succeed("clawgate models list --config /etc/clawgate/config.json")
    assert "openrouter/moonshotai/kimi-k2.6" in listed, listed
  '';
}
