"""The local surface: the same commands in a terminal, against the current kubeconfig."""
