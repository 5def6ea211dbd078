"""Add-ons installed on a cluster through its explicit Kubernetes provider.

One module per add-on, each the single source of its chart version and values
(`gpu_operator`, and ingress, JupyterHub, observability and GitOps as they land).
"""
