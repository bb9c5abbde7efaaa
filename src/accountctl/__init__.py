"""accountctl: the register of a school's or trust's official social-media accounts."""

__version__ = "0.1.0"
