//! The Kubernetes deployment's inputs as gwsim reads them: the scenarios in `deploy/k8s` are
//! valid and can be cut into the number of shards their kustomization sets, so `kubectl apply`
//! never starts pods that would refuse their scenario. (The manifests themselves are checked
//! against the Kubernetes API schemas by `deploy/validate`.)

use std::path::Path;

use gwsim::scenario::{Overrides, Shard, load};

/// `GWSIM_SHARDS=N` from a kustomization's configMapGenerator literals.
fn shards_of(kustomization: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(kustomization).ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- GWSIM_SHARDS="))
        .find_map(|n| n.trim().parse().ok())
}

#[test]
fn deploy_scenarios_validate_and_cut_into_their_shards() {
    let k8s = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s");
    let mut dirs = vec![k8s.join("base")];
    let overlays = std::fs::read_dir(k8s.join("overlays")).expect("deploy/k8s/overlays");
    dirs.extend(overlays.map(|e| e.expect("a directory entry").path()));
    let mut checked = 0;
    for dir in dirs {
        let scenario = dir.join("scenario.toml");
        let n = shards_of(&dir.join("kustomization.yaml"));
        // An overlay without its own scenario or N takes the base's, checked on its own.
        let (Some(n), true) = (n, scenario.is_file()) else { continue };
        if let Err(d) = load(&scenario, &Overrides::default()) {
            panic!("{}: {d}", scenario.display());
        }
        for index in 0..n {
            let overrides =
                Overrides { shard: Some(Shard { index, count: n }), ..Overrides::default() };
            if let Err(d) = load(&scenario, &overrides) {
                panic!("{} as shard {index}/{n}: {d}", scenario.display());
            }
        }
        checked += 1;
    }
    assert!(checked >= 2, "the base and the example overlay each have a scenario and an N");
}
