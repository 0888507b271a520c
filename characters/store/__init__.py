"""The door to backend specifics (docs: /work/shared/DESIGN.md, "characters/store/"): one
module per backend feature, chosen once by settings."""
