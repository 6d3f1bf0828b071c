"""``python -m matt.bench.gpu``."""

from matt.bench.gpu.main import main

if __name__ == "__main__":
    main()
