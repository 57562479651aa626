# The module-evaluation suite: the flake's `outputs` called with stand-in
# inputs (nix/tests/stubs: the real nixpkgs.lib, home-manager's own
# modules/systemd.nix, modules/launchd and lib when a checkout is given,
# nix-openclaw's real home-manager module when one is given), then both
# modules evaluated as users import them (homeModules / nixosModules from
# those outputs), with every example flake in examples/. No nixpkgs package
# set is needed. Run by nix/tests/run.sh:
#
#   nix-instantiate --read-write-mode --eval --strict --json nix/tests/modules-eval.nix \
#     --arg nixpkgsLib PATH [--arg homeManager PATH] [--arg crane PATH] [--arg nixOpenclaw PATH]
#
# Returns the names of the checks
# that ran; throws naming every check that failed.
{
  # A tree with lib/ in it: nixpkgs.lib's repository or nixpkgs itself.
  nixpkgsLib,
  homeManager ? null,
  crane ? null,
  nixOpenclaw ? null,
  # An index into the checks: evaluate that one alone and return
  # { name, ok } (for finding which check an uncatchable error comes from).
  only ? null,
}:
let
  stubs = import ./stubs/inputs.nix {
    lib = import "${nixpkgsLib}/lib";
    nixpkgsTree = nixpkgsLib;
    inherit homeManager crane;
  };
  lib = stubs.hmLib;
  realHm = homeManager != null;
  fixture = import ./fixture.nix;
  catalog = builtins.fromJSON (builtins.readFile ../../src/catalog/catalog.json);

  # The flake as `nix` would call it, inputs replaced by the stand-ins.
  # outPath is a string, so nothing copies the work tree.
  flake = (import ../../flake.nix).outputs {
    self = flake // {
      outPath = toString ../..;
    };
    inherit (stubs) nixpkgs crane home-manager;
  };
  clawgateInput = flake // {
    outPath = toString ../..;
  };

  # nix-openclaw's home-manager module: the real one from a checkout (with
  # home-manager's lib for its DAG entries), else a stand-in declaring the
  # options clawgate's module uses, with nix-openclaw's names and defaults.
  openclawStandIn =
    { lib, ... }:
    let
      inherit (lib) mkOption types;
    in
    {
      options.programs.openclaw = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        config = mkOption {
          type = types.submodule { freeformType = types.attrsOf types.anything; };
          default = { };
        };
        systemd.enable = mkOption {
          type = types.bool;
          default = true;
        };
        systemd.unitName = mkOption {
          type = types.str;
          default = "openclaw-gateway";
        };
        instances = mkOption {
          type = types.attrsOf types.unspecified;
          default = { };
        };
        environment = mkOption {
          type = types.attrsOf types.str;
          default = { };
        };
      };
    };
  realOpenclaw = nixOpenclaw != null && realHm;
  openclawModule =
    if realOpenclaw then import "${nixOpenclaw}/nix/modules/home-manager/openclaw.nix" else openclawStandIn;
  nixOpenclawInput = {
    homeManagerModules.openclaw = openclawModule;
    overlays.default = _final: _prev: { };
  };

  home =
    {
      system ? "x86_64-linux",
      modules,
    }:
    (stubs.homeManagerConfiguration {
      pkgs = stubs.pkgsFor system;
      modules = [ flake.homeModules.default ] ++ modules;
    }).config;
  homeWith =
    extra:
    home {
      modules = [
        { services.clawgate = fixture.serviceOptions // extra; }
      ];
    };
  nixos =
    extra:
    (stubs.nixpkgs.lib.nixosSystem {
      modules = [
        flake.nixosModules.default
        { services.clawgate = fixture.serviceOptions // extra; }
      ];
    }).config;

  # What clawgate validates and reads: the file the validation build copies.
  configSource = config: config.xdg.configFile."clawgate/config.json".source or config.environment.etc."clawgate/config.json".source;
  written =
    config:
    builtins.fromJSON (
      builtins.readFile (
        builtins.head (
          builtins.match ".*--config ([^ \n]+).*" (builtins.readFile (configSource config).scriptFile)
        )
      )
    );
  failedAssertions = config: map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
  clawgateWarnings = config: builtins.filter (lib.hasPrefix "services.clawgate") config.warnings;
  accepted = settings: written (homeWith { inherit settings; });

  package = flake.packages.x86_64-linux.default;
  # aarch64-linux built on x86_64-linux.
  crossPkgs =
    let
      native = stubs.nixpkgs.legacyPackages.aarch64-linux;
    in
    native
    // {
      stdenv = native.stdenv // {
        buildPlatform = {
          system = "x86_64-linux";
          canExecute = platform: platform.system == "x86_64-linux";
        };
      };
    };
  exe = "${package}/bin/clawgate";

  # The entry the binary's `clawgate openclaw provider` prints for the
  # default chain, written out by hand from catalog.json.
  defaultProvider = {
    baseUrl = "http://127.0.0.1:18700/v1";
    api = "openai-completions";
    apiKey = "clawgate-local";
    models = [
      {
        id = "moonshot/kimi-k2.6";
        name = "Kimi K2.6 via clawgate";
        reasoning = true;
        input = [
          "text"
          "image"
        ];
        contextWindow = 262144;
        maxTokens = 262144;
        cost = {
          input = 0.95;
          output = 4.0;
          cacheRead = 0.16;
          cacheWrite = 0;
        };
        compat = {
          supportsReasoningEffort = true;
          supportsUsageInStreaming = true;
        };
      }
      {
        id = "openrouter/moonshotai/kimi-k2.6";
        name = "Kimi K2.6 (OpenRouter) via clawgate";
        reasoning = true;
        input = [
          "text"
          "image"
        ];
        contextWindow = 262144;
        maxTokens = 262144;
        cost = {
          input = 0.8;
          output = 3.5;
          cacheRead = 0.2;
          cacheWrite = 0;
        };
        compat = {
          supportsReasoningEffort = true;
          supportsUsageInStreaming = true;
        };
      }
    ];
  };

  # ---- the cases -------------------------------------------------------

  linux = "x86_64-linux";
  darwin = "aarch64-darwin";
  cargoChecks = [
    "clawgate-clippy"
    "clawgate-deny"
    "clawgate-doc"
    "clawgate-fmt"
    "clawgate-nextest"
  ];

  defaultHome = homeWith { environmentFile = "%h/.config/clawgate/secrets.env"; };
  defaultUnit = defaultHome.systemd.user.services.clawgate;
  defaultNixos = nixos {
    environmentFile = "/run/keys/clawgate.env";
    credentials.OPENROUTER_API_KEY = "/run/keys/openrouter";
  };
  system = defaultNixos.systemd.services.clawgate;

  localOnly = {
    models.mode = "replace";
    models.providers.local = {
      baseUrl = "http://127.0.0.1:8080/v1";
      models = [
        {
          id = "qwen3-coder";
          contextWindow = 131072;
          maxTokens = 8192;
        }
      ];
    };
    agents.defaults.model = "local/qwen3-coder";
  };

  literalSettings = {
    gateway.auth.token = "hunter2-token";
    models.providers.moonshot = {
      apiKey = "sk-literal";
      headers = {
        Authorization = "Bearer sk-literal";
        X-Trace = "not-a-secret";
      };
    };
    models.providers.kimi.models = [
      {
        id = "kimi-for-coding";
        headers.x-api-key = "sk-kimi-literal";
      }
    ];
    env.vars.KIMI_API_KEY = "sk-kimi-literal";
  };
  referenceSettings = {
    gateway.auth.token = "\${CLAWGATE_TOKEN}";
    models.providers.moonshot = {
      apiKey = "\${MOONSHOT_API_KEY}";
      headers.Authorization = "Bearer \${MOONSHOT_API_KEY}";
    };
    env.vars.KIMI_API_KEY = "\${KIMI_KEY_FROM_SOPS}";
  };

  darwinHome = home {
    system = darwin;
    modules = [
      {
        home.homeDirectory = "/Users/alice";
        services.clawgate = fixture.serviceOptions // {
          environmentFile = [
            "%h/.config/clawgate/secrets.env"
            "-/Users/alice/.config/clawgate/more.env"
          ];
        };
      }
    ];
  };
  agent = darwinHome.launchd.agents.clawgate;

  firewall =
    settings:
    nixos {
      openFirewall = true;
      inherit settings;
    };

  withOpenclaw =
    extra:
    home {
      modules = [
        openclawModule
        {
          programs.openclaw = {
            enable = true;
          }
          // extra;
          services.clawgate = fixture.serviceOptions // {
            openclaw.enable = true;
            settings = fixture.serviceOptions.settings // {
              gateway.auth.token = "\${CLAWGATE_TOKEN}";
            };
          };
        }
      ];
    };
  wired = withOpenclaw { };
  # nix-openclaw's schema types fill every unset key with null, and it strips
  # them when it writes openclaw.json; so do we before comparing.
  stripNulls =
    value:
    if builtins.isAttrs value then
      lib.filterAttrs (_: v: v != null) (builtins.mapAttrs (_: stripNulls) value)
    else if builtins.isList value then
      map stripNulls (builtins.filter (v: v != null) value)
    else
      value;
  openclawConfig = stripNulls wired.programs.openclaw.config;

  # The example flakes, their inputs replaced by the stand-ins and clawgate
  # by this flake.
  example =
    file: inputs:
    (import file).outputs (
      {
        inherit (stubs) nixpkgs home-manager;
        clawgate = clawgateInput;
      }
      // inputs
    );
  exampleHome = (example ../../examples/home-manager/flake.nix { }).homeConfigurations.alice.config;
  exampleNixos = (example ../../examples/nixos/flake.nix { }).nixosConfigurations.gateway.config;
  exampleOpenclaw =
    (example ../../examples/openclaw/flake.nix { nix-openclaw = nixOpenclawInput; })
    .homeConfigurations.alice.config;

  checks = [
    # 1. Evaluation that works everywhere.
    {
      name = "flake: the NixOS configuration comes from the nixpkgs flake's lib.nixosSystem (pkgs.lib has none)";
      ok = lib.hasSuffix ".drv" flake.checks.${linux}.module-nixos.drvPath;
    }
    {
      name = "flake: every check evaluates to a derivation on every system, VM tests only on Linux";
      ok = builtins.all (
        system:
        let
          checks = flake.checks.${system};
          isLinux = lib.hasSuffix "-linux" system;
        in
        builtins.all (check: lib.hasSuffix ".drv" check.drvPath) (builtins.attrValues checks)
        && (checks ? vm-system) == isLinux
        && (checks ? vm-database) == isLinux
        && (checks ? module-nixos-database) == isLinux
        && (checks ? vm-home-manager) == isLinux
        && (checks ? module-home-manager-launchd) == !isLinux
      ) stubs.systems;
    }
    {
      name = "flake: the dev shell is built from the cargo checks only, on every system";
      ok = builtins.all (
        system:
        builtins.attrNames flake.devShells.${system}.default.shellArgs.checks == cargoChecks
        && lib.hasSuffix ".drv" flake.devShells.${system}.default.drvPath
      ) stubs.systems;
    }
    (
      if builtins ? readFileType then
        {
          name = "flake: the crane source holds src/catalog/catalog.json (include_str! in the crate)";
          ok = builtins.pathExists "${package.src}/src/catalog/catalog.json";
        }
      else
        {
          # lib.fileset needs builtins.readFileType (Nix 2.14); older Nix
          # (Debian's 2.8) can only read the fileset's definition.
          name = "flake: nix/package.nix's fileset names src/catalog/catalog.json (text only: this Nix has no builtins.readFileType for lib.fileset)";
          ok = lib.hasInfix "../src/catalog/catalog.json\n" (builtins.readFile ../package.nix);
        }
    )
    (
      let
        read = [
          "README.md"
          "ARCHITECTURE.md"
          "docs/troubleshooting.md"
          "tests/golden/requests"
        ];
        nextest = flake.checks.x86_64-linux.clawgate-nextest;
        clippy = flake.checks.x86_64-linux.clawgate-clippy;
      in
      if builtins ? readFileType then
        {
          name = "flake: the source of the tests and clippy holds the pages and golden requests they read (include_str!, ARCHITECTURE.md)";
          ok = builtins.all (
            path: builtins.pathExists "${nextest.src}/${path}" && builtins.pathExists "${clippy.src}/${path}"
          ) read;
        }
      else
        {
          name = "flake: nix/package.nix's test source names the pages and golden requests the tests read (text only: this Nix has no builtins.readFileType for lib.fileset)";
          ok =
            builtins.all (path: lib.hasInfix "../${path}\n" (builtins.readFile ../package.nix)) [
              "README.md"
              "ARCHITECTURE.md"
              "docs"
              "tests/golden"
            ]
            && lib.hasInfix "src = testSrc;" (builtins.readFile ../package.nix);
        }
    )
    (
      let
        # What the package's build runs.
        scripts = [
          "pgo.sh"
          "llvm-profdata.sh"
        ];
      in
      {
      name = "flake: the package is optimised by profile on Linux (benches/pgo.sh, the llvm-profdata of rustc's LLVM), plainly built on darwin and across machines";
      ok =
        builtins.match ".*LLVM_PROFDATA=/nix/store/[a-z0-9]+-llvm/bin/llvm-profdata.*" package.preBuild != null
        && lib.hasInfix "\nprofile=$(bash benches/pgo.sh)\n" package.preBuild
        && lib.hasInfix "-Cprofile-use=$profile" package.preBuild
        && flake.packages.aarch64-darwin.default.preBuild == ""
        # A cross build (through the overlay) cannot run its training.
        && (flake.overlays.default crossPkgs crossPkgs).clawgate.preBuild == ""
        && (
          if builtins ? readFileType then
            builtins.all (script: builtins.pathExists "${package.src}/benches/${script}") scripts
          else
            builtins.all (script: lib.hasInfix "../benches/${script}\n" (builtins.readFile ../package.nix)) scripts
        );
      }
    )
    {
      name = "flake: homeModules, with homeManagerModules kept as an alias; importing both declares the options once";
      ok =
        flake.homeManagerModules == flake.homeModules
        && (home {
          modules = [
            flake.homeManagerModules.default
            flake.homeModules.clawgate
            { services.clawgate.enable = true; }
          ];
        }).systemd.user.services ? clawgate;
    }
    {
      name = "flake: apps have meta.description; the formatter is nixfmt-tree";
      ok = builtins.all (
        system:
        builtins.all (app: app.type == "app" && app.meta.description != "") (builtins.attrValues flake.apps.${system})
        && flake.formatter.${system}.pname == "nixfmt-tree"
      ) stubs.systems;
    }

    # 2. Options that never reject or invent.
    {
      name = "options: an alias as primary";
      ok =
        (accepted {
          agents.defaults.models."kimi/kimi-for-coding".alias = "kimi";
          agents.defaults.model = {
            primary = "kimi";
            fallbacks = [ "openrouter/moonshotai/kimi-k2.6" ];
          };
        }).agents.defaults.model.primary == "kimi";
    }
    {
      name = "options: a pool (a list of refs) as primary and as a fallback";
      ok =
        let
          model =
            (accepted {
              agents.defaults.model = {
                primary = [
                  "moonshot/kimi-k2.6"
                  "openrouter/moonshotai/kimi-k2.6"
                ];
                fallbacks = [
                  [
                    "kimi/kimi-for-coding"
                    "moonshot/kimi-k2.5"
                  ]
                  "openrouter/moonshotai/kimi-k2.5"
                ];
              };
            }).agents.defaults.model;
        in
        model.primary == [
          "moonshot/kimi-k2.6"
          "openrouter/moonshotai/kimi-k2.6"
        ]
        && builtins.length model.fallbacks == 2;
    }
    {
      name = "options: OpenClaw's string form agents.defaults.model";
      ok = (accepted { agents.defaults.model = "kimi/kimi-for-coding"; }).agents.defaults.model == "kimi/kimi-for-coding";
    }
    {
      name = "options: every key the binary reads and OpenClaw's others pass through";
      ok =
        let
          settings = {
            gateway = {
              auth.token = "\${CLAWGATE_TOKEN}";
              bind = "0.0.0.0";
              maxBodyBytes = 1048576;
              timeouts.firstByteSeconds = 20;
              mode = "local";
            };
            models.mode = "merge";
            models.providers.kimi-code = {
              baseUrl = "https://api.kimi.com/coding/v1";
              apiKey = "\${KIMI_API_KEY}";
              api = "openai-completions";
              headers.User-Agent = "KimiCLI/0.77";
              maxConcurrent = {
                requests = 20;
                waitSeconds = 1;
              };
              models = [
                {
                  id = "kimi-for-coding";
                  reasoning = true;
                  compat.supportsDeveloperRole = false;
                }
              ];
            };
            agents.defaults = {
              model.primary = "kimi-code/kimi-for-coding";
              models."kimi-code/kimi-for-coding" = {
                alias = "Kimi K2.5 (Kimi Code)";
                params.temperature = 0.6;
              };
              thinkingDefault = "low";
              workspace = "~/.openclaw/workspace";
            };
            env.vars.EXTRA = "x";
            channels.telegram.enabled = false;
          };
          out = accepted settings;
        in
        out.gateway.auth.token == "\${CLAWGATE_TOKEN}"
        && out.gateway.timeouts.firstByteSeconds == 20
        && out.models.providers.kimi-code.headers.User-Agent == "KimiCLI/0.77"
        && out.models.providers.kimi-code.maxConcurrent == {
          requests = 20;
          waitSeconds = 1;
        }
        && out.agents.defaults.thinkingDefault == "low"
        && out.agents.defaults.models."kimi-code/kimi-for-coding".params.temperature == 0.6
        && out.channels.telegram.enabled == false
        && out.env.vars.EXTRA == "x";
    }
    {
      name = "options: replace mode with one local provider writes exactly what the user wrote (no default fallback)";
      ok =
        accepted localOnly == {
          gateway = {
            port = 18700;
            bind = "127.0.0.1";
          };
          inherit (localOnly) models agents;
        };
    }
    {
      name = "options: no chain set writes none (the binary applies catalog.json's own)";
      ok =
        written defaultHome == {
          gateway = {
            port = 18700;
            bind = "127.0.0.1";
          };
          inherit (fixture.serviceOptions.settings) agents;
        }
        && !((accepted { }) ? agents);
    }
    {
      name = "options: the config is still validated offline by the binary at build time";
      ok =
        builtins.match ".*clawgate config validate --offline --config .*" (
          builtins.readFile (configSource defaultHome).scriptFile
        ) != null;
    }

    # 3. Secrets.
    {
      name = "secrets: a warning for each literal apiKey, token, credential header and env variable";
      ok =
        let
          warnings = clawgateWarnings (homeWith { settings = literalSettings; });
          about = path: builtins.any (lib.hasPrefix "services.clawgate.settings.${path} holds a literal secret") warnings;
        in
        builtins.length warnings == 5
        && about "gateway.auth.token"
        && about "models.providers.moonshot.apiKey"
        && about "models.providers.moonshot.headers.Authorization"
        && about "models.providers.kimi.models[0].headers.x-api-key"
        && about "env.KIMI_API_KEY"
        && clawgateWarnings (nixos { settings = literalSettings; }) == warnings;
    }
    {
      name = "secrets: a literal in env that a key, token, header or a store URL with a password uses as \${VAR} is warned about, whatever its name";
      ok =
        let
          settings = {
            gateway.auth.token = "\${GATE}";
            ledger.store = "\${STORE}";
            models.providers.moonshot = {
              apiKey = "\${MOON}";
              headers.Authorization = "Bearer \${HDR}";
              headers.X-Trace = "\${TRACE}";
            };
            models.providers.kimi.models = [
              {
                id = "kimi-for-coding";
                headers.x-api-key = "\${MODEL_HDR}";
              }
            ];
            env.vars = {
              GATE = "gate-literal";
              MOON = "sk-moon-literal";
              HDR = "hdr-literal";
              MODEL_HDR = "model-hdr-literal";
              STORE = "postgresql://clawgate:hunter2@db.example/clawgate";
              # Used by a header that is no credential, or not at all.
              TRACE = "trace-id";
              REGION = "eu";
              # Defined elsewhere: a reference, not a literal.
              FROM_FILE = "\${SOPS_VALUE}";
            };
          };
          warnings = clawgateWarnings (homeWith { inherit settings; });
          about = name: builtins.any (lib.hasPrefix "services.clawgate.settings.env.${name} holds a literal secret") warnings;
        in
        builtins.length warnings == 5
        && about "GATE"
        && about "MOON"
        && about "HDR"
        && about "MODEL_HDR"
        && about "STORE"
        && clawgateWarnings (nixos { inherit settings; }) == warnings
        # A password alone in a variable is a secret; the host beside it is none.
        && clawgateWarnings (homeWith {
          settings = {
            ledger.store = "postgresql://clawgate:\${PW}@\${HOST}/clawgate";
            env.vars = { PW = "hunter2"; HOST = "db.example"; };
          };
        }) == [ "services.clawgate.settings.env.PW holds a literal secret, which lands in the world-readable Nix store; write \"\${VAR}\" and put VAR in services.clawgate.environmentFile" ]
        # A store URL without a password holds no secret.
        && clawgateWarnings (homeWith {
          settings = settings // {
            env.vars = settings.env.vars // { STORE = "postgresql://clawgate@db.example/clawgate"; };
          };
        }) == lib.remove (lib.findFirst (lib.hasPrefix "services.clawgate.settings.env.STORE ") "" warnings) warnings;
    }
    {
      name = "secrets: \${VAR} references raise nothing";
      ok = clawgateWarnings (homeWith { settings = referenceSettings; }) == [ ];
    }
    {
      name = "secrets: an environment file in the store is refused";
      ok =
        builtins.length (
          failedAssertions (homeWith { environmentFile = [ "-${builtins.storeDir}/0000-secrets.env" ]; })
        ) == 1
        && failedAssertions defaultHome == [ ];
    }
    {
      name = "secrets: an --env-file in the store passed through extraArgs is refused";
      ok =
        let
          store = "${builtins.storeDir}/0000-secrets.env";
          refused = extraArgs: failedAssertions (homeWith { inherit extraArgs; });
          refusedSystem = extraArgs: failedAssertions (nixos { inherit extraArgs; });
        in
        builtins.length (refused [ "--env-file" store ]) == 1
        && builtins.length (refused [ "--env-file=-${store}" ]) == 1
        && builtins.length (refused [ "--log-level" "debug" "--env-file" store "--env-file=${store}" ]) == 2
        && lib.hasPrefix "services.clawgate.extraArgs: --env-file ${store} is in the Nix store" (builtins.head (refused [ "--env-file" store ]))
        && builtins.length (refusedSystem [ "--env-file" store ]) == 1
        && refused [ "--env-file" "/run/keys/clawgate.env" "--env-file=-/etc/clawgate.env" ] == [ ]
        && refused [ "--env-file" ] == [ ];
    }

    # 4. macOS.
    {
      name = "macOS: a launchd agent runs clawgate with the same config, the env files read by clawgate itself";
      ok =
        agent.enable
        && agent.config.ProgramArguments == [
          "${flake.packages.${darwin}.default}/bin/clawgate"
          "serve"
          "--config"
          "/Users/alice/.config/clawgate/config.json"
          "--log-level"
          "info"
          "--env-file"
          "/Users/alice/.config/clawgate/secrets.env"
          "--env-file"
          "/Users/alice/.config/clawgate/more.env"
        ]
        && written darwinHome == written defaultHome;
    }
    {
      name = "macOS: logs go to ~/Library/Logs, a crash restarts, no systemd unit";
      ok =
        agent.config.StandardOutPath == "/Users/alice/Library/Logs/clawgate.log"
        && agent.config.StandardErrorPath == agent.config.StandardOutPath
        && agent.config.KeepAlive.SuccessfulExit == false
        && !(darwinHome.systemd.user.services ? clawgate);
    }
    {
      name = "macOS: a config change sends SIGHUP to the running agent (launchctl kill)";
      ok =
        let
          onChange = darwinHome.xdg.configFile."clawgate/config.json".onChange;
        in
        lib.hasInfix "/bin/launchctl kill SIGHUP \"gui/$UID/${agent.config.Label}\"" onChange
        && defaultHome.xdg.configFile."clawgate/config.json".onChange == "";
    }

    # 5. Conventions of the ecosystem.
    {
      name = "conventions: package is a mkPackageOption (pkgs.clawgate) defaulting to the flake's package";
      ok =
        let
          evaluated = stubs.homeManagerConfiguration {
            pkgs = stubs.pkgsFor linux;
            modules = [ flake.homeModules.default ];
          };
        in
        evaluated.options.services.clawgate.package.defaultText.text == "pkgs.clawgate"
        && evaluated.config.services.clawgate.package.outPath == package.outPath;
    }
    {
      name = "conventions: the modules declare their class (a NixOS module in home-manager is refused)";
      ok =
        let
          args = {
            inherit lib;
            pkgs = stubs.pkgsFor linux;
          };
        in
        (flake.homeModules.default args)._class == "homeManager"
        && (flake.nixosModules.default args)._class == "nixos"
        && !(builtins.tryEval (home { modules = [ flake.nixosModules.default ]; }).services.clawgate.enable).success;
    }
    {
      name = "conventions: a config change reloads (X-Reload-Triggers / reloadTriggers), it does not restart";
      ok =
        defaultUnit.Unit.X-Reload-Triggers == [ "${configSource defaultHome}" ]
        && (defaultUnit.Unit.X-Restart-Triggers or [ ]) == [ ]
        && system.reloadTriggers == [ (configSource defaultNixos) ]
        && system.restartTriggers == [ ];
    }
    {
      name = "conventions: openFirewall is refused on loopback or without a token, allowed with both";
      ok =
        builtins.length (failedAssertions (firewall { })) == 1
        && builtins.length (failedAssertions (firewall { gateway.bind = "0.0.0.0"; })) == 1
        && builtins.length (failedAssertions (firewall { gateway.auth.token = "\${T}"; })) == 1
        && (
          let
            open = firewall {
              gateway.bind = "0.0.0.0";
              gateway.auth.token = "\${T}";
            };
          in
          failedAssertions open == [ ] && open.networking.firewall.allowedTCPPorts == [ 18700 ]
        );
    }
    {
      name = "ledger: budgets and the ledger pass through typed; unset, nothing is written";
      ok =
        let
          out = accepted {
            gateway.budgets = {
              daily = 5;
              providers.openrouter.monthly = 20;
              models."moonshot/kimi-k2.6".weekly = 2.5;
              unpriced = "allow";
            };
            ledger = {
              retentionDays = 30;
              path = "/srv/clawgate/ledger.db";
            };
          };
        in
        out.gateway.budgets == {
          daily = 5;
          providers.openrouter.monthly = 20;
          models."moonshot/kimi-k2.6".weekly = 2.5;
          unpriced = "allow";
        }
        && out.ledger == {
          retentionDays = 30;
          path = "/srv/clawgate/ledger.db";
        }
        && !((written defaultHome) ? ledger)
        && !((written defaultHome).gateway ? budgets)
        && !(builtins.tryEval (builtins.deepSeq (accepted { gateway.budgets.unpriced = "sometimes"; }) true)).success;
    }
    {
      name = "telemetry: services.clawgate.telemetry becomes gateway.telemetry in both modules; off, nothing is written";
      ok =
        let
          telemetry = {
            enable = true;
            endpoint = "http://127.0.0.1:6006";
            sampleRatio = 0.5;
            captureContent = true;
            metrics = true;
          };
          fromHome = written (homeWith { inherit telemetry; });
          fromNixos = written (nixos { inherit telemetry; });
          envOnly = written (homeWith { telemetry.enable = true; });
        in
        fromHome.gateway.telemetry == {
          endpoint = "http://127.0.0.1:6006";
          sampleRatio = 0.5;
          captureContent = true;
          metrics = true;
        }
        && fromNixos.gateway.telemetry == fromHome.gateway.telemetry
        && !(envOnly.gateway ? telemetry)
        && !((written defaultHome).gateway ? telemetry)
        && !((written (homeWith { telemetry = telemetry // { enable = false; }; })).gateway ? telemetry)
        && !(builtins.tryEval (builtins.deepSeq (homeWith { telemetry.sampleRatio = 2; }).services.clawgate.telemetry true)).success;
    }
    {
      name = "clients: two clients with their own keys, models, budgets and limits are written typed by both modules; a key in the file is refused";
      ok =
        let
          clients = {
            alice = {
              key = "\${ALICE_KEY}";
              limits = {
                requestsPerMinute = 60;
                concurrentRequests = 4;
              };
            };
            ci = {
              key = "sha256:34b089c4832360d95d0e0a0e4ddfc0ecee99618b66504ef9cb11c6f1fbdcb6c1";
              admin = false;
              models = [ "moonshot/kimi-k2.6" ];
              budgets = {
                daily = 2;
                providers.openrouter.monthly = 20;
              };
              limits.tokensPerMinute = 200000;
            };
          };
          settings = {
            gateway.bind = "0.0.0.0";
            gateway.clients = clients;
          };
          fromHome = accepted settings;
          fromSystem = written (nixos { inherit settings; });
          refused = key: !(builtins.tryEval (builtins.deepSeq (accepted { gateway.clients.x.key = key; }) true)).success;
          opened = firewall settings;
        in
        fromHome.gateway.clients == clients
        && fromSystem.gateway.clients == clients
        && clawgateWarnings (nixos { inherit settings; }) == [ ]
        && failedAssertions opened == [ ]
        && opened.networking.firewall.allowedTCPPorts == [ 18700 ]
        && refused "a-key-written-in-the-file"
        && refused "sha256:1234"
        && !((written defaultHome).gateway ? clients);
    }
    {
      name = "ledger store: \${CLAWGATE_LEDGER_URL} is written as is by both modules; a password in the URL fails evaluation (an assertion, and no config file is made)";
      ok =
        let
          fromEnv.ledger.store = "\${CLAWGATE_LEDGER_URL}";
          refusedBy =
            evaluate: url:
            let
              config = evaluate { settings.ledger.store = url; };
            in
            builtins.any (lib.hasPrefix "services.clawgate.settings.ledger.store: the URL holds a password") (
              failedAssertions config
            )
            && !(builtins.tryEval (configSource config).drvPath).success;
          allowedBy =
            evaluate: url:
            let
              config = evaluate { settings.ledger.store = url; };
            in
            failedAssertions config == [ ] && (written config).ledger.store == url;
        in
        (written (homeWith { settings = fromEnv; })).ledger == fromEnv.ledger
        && (written (nixos { settings = fromEnv; })).ledger == fromEnv.ledger
        && clawgateWarnings (nixos { settings = fromEnv; }) == [ ]
        && builtins.all (refusedBy homeWith) [
          "postgresql://clawgate:hunter2@db.example/clawgate"
          "postgres://db.example/clawgate?user=clawgate&password=hunter2"
        ]
        && refusedBy nixos "postgresql://clawgate:hunter2@db.example/clawgate"
        && builtins.all (allowedBy nixos) [
          "postgresql://clawgate@/clawgate?host=/run/postgresql"
          "postgresql://clawgate:\${PGPASSWORD}@db.example:5432/clawgate"
          "postgres://db.example/clawgate?password=\${PGPASSWORD}"
        ]
        && !((written defaultNixos) ? ledger);
    }
    {
      name = "database.createLocally: two clients and a local PostgreSQL (database and role clawgate, peer over the socket), a static user, the store in the config, the unit after PostgreSQL; no secret in the config or the unit";
      ok =
        let
          secretFile = "/run/keys/clawgate.env";
          config = nixos {
            environmentFile = secretFile;
            database.createLocally = true;
            settings.gateway = {
              bind = "0.0.0.0";
              clients = {
                alice = {
                  key = "\${ALICE_KEY}";
                  budgets.daily = 5;
                  limits.requestsPerMinute = 60;
                };
                ci = {
                  key = "sha256:34b089c4832360d95d0e0a0e4ddfc0ecee99618b66504ef9cb11c6f1fbdcb6c1";
                  models = [ "moonshot/kimi-k2.6" ];
                  limits.concurrentRequests = 2;
                };
              };
            };
          };
          out = written config;
          unit = lib.splitString "\n" config.systemd.units."clawgate.service".text;
          # Every string the generated config holds.
          strings =
            value:
            if builtins.isAttrs value then
              lib.concatMap strings (builtins.attrValues value)
            else if builtins.isList value then
              lib.concatMap strings value
            else
              lib.optional (builtins.isString value) value;
          # Without createLocally nothing of it is set.
          plain = defaultNixos;
        in
        out.ledger == {
          store = "postgresql://clawgate@/clawgate?host=/run/postgresql";
        }
        && builtins.attrNames out.gateway.clients == [
          "alice"
          "ci"
        ]
        && out.gateway.clients.alice.key == "\${ALICE_KEY}"
        && config.services.postgresql.enable
        && config.services.postgresql.ensureDatabases == [ "clawgate" ]
        && config.services.postgresql.ensureUsers == [
          {
            name = "clawgate";
            ensureDBOwnership = true;
          }
        ]
        && lib.hasInfix "local clawgate clawgate peer" config.services.postgresql.authentication
        && config.users.users.clawgate.isSystemUser
        && config.users.users.clawgate.group == "clawgate"
        && config.users.groups ? clawgate
        && builtins.all (line: builtins.elem line unit) [
          "After=network-online.target"
          "After=postgresql.service"
          "After=postgresql.target"
          "Wants=postgresql.service"
          "Wants=postgresql.target"
          "DynamicUser=false"
          "User=clawgate"
          "Group=clawgate"
          "EnvironmentFile=${secretFile}"
        ]
        # Wants=, not Requires=: a PostgreSQL restart must not restart the
        # gateway, which rides it out.
        && !(builtins.any (lib.hasPrefix "Requires=") unit)
        && failedAssertions config == [ ]
        && clawgateWarnings config == [ ]
        # No password anywhere: not in the config file, not in the unit.
        && !(builtins.any (lib.hasInfix "password") (map lib.toLower (strings out)))
        && builtins.all (value: !(lib.hasInfix ":" (builtins.head (lib.splitString "@" (lib.removePrefix "postgresql://" value))))) (
          builtins.filter (lib.hasPrefix "postgresql://") (strings out)
        )
        && !plain.services.postgresql.enable
        && plain.systemd.services.clawgate.serviceConfig.DynamicUser
        && !(plain.users ? users)
        && !(builtins.elem "postgresql.target" plain.systemd.services.clawgate.after);
    }
    {
      name = "ledger: the units create the state directory; a ledger elsewhere is writable under ProtectSystem=strict";
      ok =
        defaultUnit.Service.StateDirectory == "clawgate"
        && system.serviceConfig.StateDirectory == "clawgate"
        && system.serviceConfig.ReadWritePaths == [ ]
        && (nixos { settings.ledger.path = "/srv/clawgate/ledger.db"; }).systemd.services.clawgate.serviceConfig.ReadWritePaths == [ "/srv/clawgate" ]
        && agent.config.EnvironmentVariables.CLAWGATE_STATE_DIR == "/Users/alice/.local/state/clawgate";
    }
    {
      name = "database VM test: its machine evaluates with the local database, both clients and their keys from the two environment files";
      ok =
        let
          test = flake.checks.${linux}.vm-database.test;
          machine =
            (stubs.nixpkgs.lib.nixosSystem {
              modules = [ test.nodes.machine ];
            }).config;
          out = written machine;
        in
        out.ledger.store == "postgresql://clawgate@/clawgate?host=/run/postgresql"
        && out.gateway.clients.alice.key == "\${ALICE_KEY}"
        && lib.hasPrefix "sha256:" out.gateway.clients.ci.key
        && machine.services.postgresql.enable
        && machine.systemd.services.clawgate.serviceConfig.EnvironmentFile == [
          "/run/keys/clawgate.env"
          "/run/keys/alice.env"
        ]
        && failedAssertions machine == [ ]
        && lib.hasInfix "systemctl restart postgresql.service" test.testScript;
    }
    {
      name = "conventions: the home-manager VM test uses useGlobalPkgs and useUserPackages";
      ok =
        let
          machine = flake.checks.${linux}.vm-home-manager.test.nodes.machine;
        in
        machine.home-manager.useGlobalPkgs && machine.home-manager.useUserPackages;
    }

    # 6. OpenClaw, in one line.
    {
      name = "openclaw: services.clawgate.openclaw.provider is the entry for the default chain (catalog.json)";
      ok = (homeWith { settings = { }; }).services.clawgate.openclaw.provider == defaultProvider;
    }
    {
      name = "openclaw: the provider follows port, bind, token, aliases and the user's own model facts";
      ok =
        let
          provider =
            (homeWith {
              settings = {
                gateway = {
                  port = 18711;
                  bind = "192.168.1.5";
                  auth.token = "\${CLAWGATE_TOKEN}";
                };
                models.mode = "replace";
                models.providers.local = {
                  baseUrl = "http://127.0.0.1:8080/v1";
                  models = [
                    {
                      id = "qwen3-coder";
                      name = "Qwen3 Coder";
                      contextWindow = 131072;
                    }
                  ];
                };
                agents.defaults.models."local/qwen3-coder".alias = "qwen";
                agents.defaults.model = "qwen";
              };
            }).services.clawgate.openclaw.provider;
        in
        provider == {
          baseUrl = "http://192.168.1.5:18711/v1";
          api = "openai-completions";
          apiKey = "\${CLAWGATE_TOKEN}";
          models = [
            {
              id = "local/qwen3-coder";
              name = "Qwen3 Coder via clawgate";
              reasoning = false;
              input = [ "text" ];
              contextWindow = 131072;
              cost = {
                input = 0;
                output = 0;
                cacheRead = 0;
                cacheWrite = 0;
              };
              inherit (builtins.head defaultProvider.models) compat;
            }
          ];
        }
        && (nixos { settings.gateway.bind = "0.0.0.0"; }).services.clawgate.openclaw.provider.baseUrl
          == "http://127.0.0.1:18700/v1";
    }
    {
      name = "openclaw: with programs.openclaw (${if realOpenclaw then "nix-openclaw's real module" else "a stand-in"}), one line writes the provider and the default model";
      ok =
        openclawConfig.models.providers.clawgate == wired.services.clawgate.openclaw.provider
        && openclawConfig.agents.defaults.model.primary == "clawgate/kimi/kimi-for-coding"
        && wired.services.clawgate.openclaw.provider.apiKey == "\${CLAWGATE_TOKEN}"
        && map (m: m.id) wired.services.clawgate.openclaw.provider.models == [
          "kimi/kimi-for-coding"
          "openrouter/moonshotai/kimi-k2.6"
        ];
    }
    {
      name = "openclaw: OpenClaw's user service is ordered after clawgate's; OpenClaw's own default model wins";
      ok =
        builtins.elem "clawgate.service" (lib.toList wired.systemd.user.services.openclaw-gateway.Unit.After)
        && (withOpenclaw { config.agents.defaults.model = "moonshot/kimi-k2.6"; })
          .programs.openclaw.config.agents.defaults.model == "moonshot/kimi-k2.6";
    }
    {
      name = "openclaw: enabling it without nix-openclaw's module is refused with a message";
      ok =
        builtins.any (lib.hasInfix "needs nix-openclaw's home-manager module") (
          failedAssertions (homeWith { openclaw.enable = true; })
        );
    }

    # The examples, as users write them.
    {
      name = "examples: home-manager/flake.nix evaluates (unit, config, no failed assertion or warning)";
      ok =
        exampleHome.systemd.user.services ? clawgate
        && (written exampleHome).agents.defaults.model.primary == "kimi/kimi-for-coding"
        && failedAssertions exampleHome == [ ]
        && clawgateWarnings exampleHome == [ ];
    }
    {
      name = "examples: nixos/flake.nix evaluates (service, config, no failed assertion or warning)";
      ok =
        exampleNixos.systemd.services ? clawgate
        && (written exampleNixos).agents.defaults.model.primary == "moonshot/kimi-k2.6"
        && failedAssertions exampleNixos == [ ]
        && clawgateWarnings exampleNixos == [ ];
    }
    {
      name = "examples: openclaw/flake.nix (the seed setup: OpenClaw + clawgate, Kimi -> OpenRouter) wires OpenClaw to clawgate";
      ok =
        (stripNulls exampleOpenclaw.programs.openclaw.config).models.providers.clawgate.baseUrl == "http://127.0.0.1:18700/v1"
        && (stripNulls exampleOpenclaw.programs.openclaw.config).agents.defaults.model.primary == "clawgate/kimi/kimi-for-coding"
        && builtins.elem "clawgate.service" (
          lib.toList exampleOpenclaw.systemd.user.services.openclaw-gateway.Unit.After
        )
        && clawgateWarnings exampleOpenclaw == [ ];
    }
  ]
  ++ lib.optionals realHm [
    {
      name = "home-manager's systemd.nix: the unit type-checks and renders with repeated keys";
      ok =
        let
          rendered = lib.generators.toINI { listsAsDuplicateKeys = true; } (
            lib.mapAttrs (_: lib.filterAttrs (_: value: value != null && value != [ ])) defaultUnit
          );
          lines = lib.splitString "\n" rendered;
        in
        defaultHome.xdg.configFile ? "systemd/user/clawgate.service"
        && builtins.all (line: builtins.elem line lines) [
          "Type=notify"
          "EnvironmentFile=%h/.config/clawgate/secrets.env"
          "SystemCallFilter=@system-service"
          "SystemCallFilter=~@privileged"
          "WantedBy=default.target"
          "X-Reload-Triggers=${configSource defaultHome}"
        ];
    }
  ];

  run =
    check:
    let
      result = builtins.tryEval check.ok;
    in
    result.success && result.value == true;
  failed = builtins.filter (check: !run check) checks;
in
if only != null then
  let
    check = builtins.elemAt checks only;
  in
  {
    inherit (check) name;
    ok = run check;
  }
else if failed == [ ] then
  map (check: check.name) checks
else
  throw "modules-eval: failed:\n  ${builtins.concatStringsSep "\n  " (map (c: c.name) failed)}"
