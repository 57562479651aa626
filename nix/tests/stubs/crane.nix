# A stand-in for crane's mkLib: every build is an unbuildable derivation
# that keeps its arguments (src, meta) for inspection. The source filesets
# are crane's own when a checkout is given (lib/fileset/*.nix), else the
# same three rules restated.
{
  pkgs,
  crane ? null,
}:
let
  inherit (pkgs) lib;
  cranesOwn = file: import "${crane}/lib/fileset/${file}.nix" { inherit lib; };
  rules =
    if crane != null then
      {
        cargoTomlAndLock = cranesOwn "cargoTomlAndLock";
        rust = cranesOwn "rust";
        toml = cranesOwn "toml";
      }
    else
      {
        cargoTomlAndLock = lib.fileset.fileFilter (file: lib.elem file.name [ "Cargo.toml" "Cargo.lock" ]);
        rust = lib.fileset.fileFilter (file: file.hasExt "rs");
        toml = lib.fileset.fileFilter (file: file.hasExt "toml");
      };
  build =
    kind: args:
    let
      name = "${args.pname or "clawgate"}-${kind}";
      result = pkgs.runCommand name { } "" // {
        inherit (args) src;
        meta = args.meta or { };
        preBuild = args.preBuild or "";
        overrideAttrs = f: result // { meta = result.meta // ((f result).meta or { }); };
      };
    in
    result;
in
{
  fileset.commonCargoSources =
    path:
    lib.fileset.unions [
      (rules.cargoTomlAndLock path)
      (rules.rust path)
      (rules.toml path)
    ];
  crateNameFromCargoToml =
    { cargoToml }:
    let
      manifest = builtins.fromTOML (builtins.readFile cargoToml);
    in
    {
      pname = manifest.package.name;
      version = manifest.package.version;
    };
  buildDepsOnly = build "deps";
  buildPackage = args: build "package" args // { name = "${args.pname}-${args.version}"; };
  cargoClippy = build "clippy";
  cargoFmt = build "fmt";
  cargoNextest = build "nextest";
  cargoDoc = build "doc";
  cargoDeny = build "deny";
  devShell = args: pkgs.runCommand "clawgate-dev-shell" { passthru.shellArgs = args; } "";
}
