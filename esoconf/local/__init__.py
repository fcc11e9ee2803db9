"""The `local` live platform: real kube-apiserver, etcd, ESO controller and Vault API server as local processes."""
