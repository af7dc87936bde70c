"""Client factories for Kubernetes (and later AWS, Azure, etcd). The only place SDK clients are built."""
