from tests.runtime.conftest import grey_bundle, rgb_bundle

__all__ = ["grey_bundle", "rgb_bundle"]
