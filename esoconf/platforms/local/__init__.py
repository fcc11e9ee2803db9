"""The `local` platform: the real ESO controller, kube-apiserver, kube-controller-manager, etcd and a real
Vault API server (OpenBao or HashiCorp Vault) as local processes on loopback, no Docker."""
