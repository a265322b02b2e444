//! Image references: what an image URI in a container definition points at in the emulated
//! ECR. Read by the ECS handlers (a deployment records the digests its images resolve to)
//! and by the runtime (a task whose ECR image is missing fails with
//! `CannotPullContainerError`).

use crate::state::Partition;

/// What an image reference in a container definition points at.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// Not an ECR URI (Docker Hub, another registry): ferry local cannot check it.
    NotEcr,
    /// An image of this emulated ECR; `digest` is None when it does not exist.
    Ecr { repository: String, reference: String, digest: Option<String> },
}

/// Resolves an image URI of the form `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@DIGEST]`
/// against the partition's repositories.
pub fn resolve_image(partition: &Partition, image: &str) -> ImageRef {
    let Some((host, path)) = image.split_once('/') else {
        return ImageRef::NotEcr;
    };
    let host_parts: Vec<&str> = host.split('.').collect();
    let is_ecr = host_parts.len() >= 6 && host_parts[1] == "dkr" && host_parts[2] == "ecr" && host.ends_with(".amazonaws.com");
    if !is_ecr {
        return ImageRef::NotEcr;
    }
    let (repository, reference) = match path.split_once('@') {
        Some((repo, digest)) => (repo, digest),
        None => match path.rsplit_once(':') {
            Some((repo, tag)) => (repo, tag),
            None => (path, "latest"),
        },
    };
    let same_partition = host_parts[0] == partition.account && host_parts[3] == partition.region;
    let digest = same_partition.then(|| partition.repositories.get(repository)).flatten().and_then(|repo| {
        if reference.starts_with("sha256:") {
            repo.images.contains_key(reference).then(|| reference.to_string())
        } else {
            repo.digest_of_tag(reference).map(str::to_string)
        }
    });
    ImageRef::Ecr { repository: repository.to_string(), reference: reference.to_string(), digest }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Image, Repository};
    use serde_json::json;

    #[test]
    fn ecr_uris_resolve_by_tag_and_digest_and_other_registries_are_not_checked() {
        let mut p = Partition { account: "123456789012".into(), region: "eu-west-1".into(), ..Default::default() };
        let mut repo = Repository {
            arn: String::new(),
            name: "web".into(),
            uri: String::new(),
            created_at: 0.0,
            image_tag_mutability: "MUTABLE".into(),
            image_scanning_configuration: json!({}),
            encryption_configuration: json!({}),
            images: Default::default(),
            tags: vec![],
        };
        repo.images.insert(
            "sha256:abc".into(),
            Image { manifest: "{}".into(), media_type: String::new(), tags: vec!["1.0".into()], pushed_at: 0.0, size_in_bytes: 0 },
        );
        p.repositories.insert("web".into(), repo);
        let found = resolve_image(&p, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.0");
        assert!(matches!(found, ImageRef::Ecr { digest: Some(ref d), .. } if d == "sha256:abc"));
        let by_digest = resolve_image(&p, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:abc");
        assert!(matches!(by_digest, ImageRef::Ecr { digest: Some(_), .. }));
        let missing = resolve_image(&p, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:2.0");
        assert!(matches!(missing, ImageRef::Ecr { digest: None, .. }));
        let other_region = resolve_image(&p, "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.0");
        assert!(matches!(other_region, ImageRef::Ecr { digest: None, .. }));
        assert_eq!(resolve_image(&p, "nginx:latest"), ImageRef::NotEcr);
        assert_eq!(resolve_image(&p, "ghcr.io/org/app:1"), ImageRef::NotEcr);
    }
}
