"""One file per backend; each is imported only when its backend is asked for."""
