"""Site configuration: models, loading with file:line errors, ROI and prompt files."""

from pipeline.config.loading import ConfigError, Override, load_site_config
from pipeline.config.models import SiteConfig
from pipeline.config.sources import CameraConfig

__all__ = ["CameraConfig", "ConfigError", "Override", "SiteConfig", "load_site_config"]
