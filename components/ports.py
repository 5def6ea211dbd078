"""Well-known ports, shared by the components that open them and the policies that police them."""

SSH = 22
KUBE_API = 6443
#: RKE2's supervisor (node registration) port.
RKE2_SUPERVISOR = 9345
#: The collector's node exporter, on each node's own network (prometheus-node-exporter chart, as
#: kube-prometheus-stack 88.5.3 bundles it: hostNetwork true, service.port 9100, which sets the
#: container's port too): the collector scrapes it from other nodes.
NODE_EXPORTER = 9100

#: What every site opens to its admin networks, with the role used in rule names.
ADMIN_ACCESS = ((SSH, "ssh"), (KUBE_API, "kube-api"))

#: Ports that must never be reachable from the whole internet.
ADMIN_PORTS = {SSH: "SSH", KUBE_API: "Kubernetes API", RKE2_SUPERVISOR: "RKE2 supervisor"}
