"""Kubernetes clusters on sites: the KubernetesCluster and NodePool components and one module per backend.

`components.clusters.cluster` holds the components; each backend module (`rke2`, `magnum`,
`eks`, `attached`) exposes `build(cluster, spec, site)` which creates the control plane
and the node pools under `cluster` and returns the kubeconfig. Backends import their
provider SDKs; this package imports none of them.
"""
