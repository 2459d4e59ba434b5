"""The attention + shadow-generation GAN (see ../shared/DESIGN.md); not built yet."""
