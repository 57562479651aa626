# NixOS VM test: database.createLocally. Two clients with their keys in the
# environment file; the ledger in a local PostgreSQL reached over the Unix
# socket by peer authentication (no password anywhere); each client's row
# lands in the database; a restarted PostgreSQL does not restart the
# gateway, which serves on and writes again.
{ pkgs, self }:
let
  fixture = import ./fixture.nix;
  mock = "${self.packages.${pkgs.stdenv.hostPlatform.system}.clawgate-mock}/bin/clawgate-mock";
  aliceKey = "alice-vm-key-3b8e61";
  ciKey = "ci-vm-key-9d04c2";
in
pkgs.testers.runNixOSTest {
  name = "clawgate-database";
  nodes.machine =
    { lib, ... }:
    {
      imports = [ self.nixosModules.default ];
      environment.systemPackages = [ pkgs.curl ];
      # Test-only: the secrets are written at boot, before clawgate starts.
      systemd.tmpfiles.rules = [
        "d /run/keys 0700 root root -"
        "f /run/keys/clawgate.env 0600 root root - MOCK_KEY=${fixture.secret}"
        "f /run/keys/alice.env 0600 root root - ALICE_KEY=${aliceKey}"
      ];
      systemd.services.mock = {
        wantedBy = [ "multi-user.target" ];
        before = [ "clawgate.service" ];
        serviceConfig.ExecStart = "${mock} --listen 127.0.0.1:9001 --require-key ${fixture.secret} --reply answer-from-the-mock";
      };
      services.clawgate = {
        enable = true;
        environmentFile = [
          "/run/keys/clawgate.env"
          "/run/keys/alice.env"
        ];
        database.createLocally = true;
        settings = fixture.mockSettings 9001 9001 // {
          gateway.clients = {
            alice.key = "\${ALICE_KEY}";
            ci.key = "sha256:${builtins.hashString "sha256" ciKey}";
          };
        };
      };
      # Let failures surface instead of restarting.
      systemd.services.clawgate.serviceConfig.Restart = lib.mkForce "no";
    };

  testScript = ''
    def ask(key):
        body = machine.succeed(
            f"curl -sS --fail-with-body -H 'authorization: Bearer {key}' "
            + "-H 'content-type: application/json' "
            + "-d '{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' "
            + "http://127.0.0.1:18700/v1/chat/completions"
        )
        assert "answer-from-the-mock" in body, body

    def rows():
        return "runuser -u clawgate -- psql -d clawgate -tAc " + (
            "\"SELECT client || ':' || count(*) FROM clawgate_requests GROUP BY client ORDER BY client\""
        )

    machine.wait_for_unit("postgresql.target")
    machine.wait_for_unit("mock.service")
    machine.wait_for_unit("clawgate.service")
    machine.wait_for_open_port(18700)

    # The unit: a static user, ordered after PostgreSQL without requiring it.
    unit = machine.succeed("systemctl show clawgate.service -p User -p After -p Requires -p Wants")
    assert "User=clawgate" in unit, unit
    assert "postgresql.target" in unit.split("After=")[1].splitlines()[0], unit
    assert "postgresql" not in unit.split("Requires=")[1].splitlines()[0], unit

    ask("${aliceKey}")
    ask("${ciKey}")
    # Rows are written off the request path: wait for them.
    machine.wait_until_succeeds(rows() + " | tr '\\n' ' ' | grep -qx 'alice:1 ci:1 '", timeout=30)

    # The store, which has no password (peer authentication), in the log
    # and in what `clawgate config show` prints.
    journal = machine.succeed("journalctl -u clawgate.service --no-pager")
    assert "usage ledger: postgresql://clawgate@/clawgate?host=/run/postgresql" in journal, journal
    assert "${fixture.secret}" not in journal, "the secret leaked into the journal"
    shown = machine.succeed("clawgate config show --config /etc/clawgate/config.json")
    assert '"store": "postgresql://clawgate@/clawgate?host=/run/postgresql"' in shown, shown

    # PostgreSQL restarted: the gateway keeps its process and serves on.
    pid = machine.succeed("systemctl show clawgate.service -p MainPID --value").strip()
    machine.succeed("systemctl restart postgresql.service")
    machine.wait_for_unit("postgresql.target")
    assert machine.succeed("systemctl show clawgate.service -p MainPID --value").strip() == pid
    ask("${aliceKey}")
    machine.wait_until_succeeds(rows() + " | tr '\\n' ' ' | grep -qx 'alice:2 ci:1 '", timeout=30)

    # `clawgate usage` reads the same database as the clawgate user.
    usage = machine.succeed(
        "runuser -u clawgate -- clawgate usage --config /etc/clawgate/config.json --by client"
    )
    assert "alice" in usage and "ci" in usage, usage
  '';
}
