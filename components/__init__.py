"""Meridian's component library: the typed spec and the Pulumi ComponentResources built from it.

Importing this package is cheap: provider SDKs are imported only by the modules that
create their resources, when the Platform first needs them.
"""
