"""Cloud sites: OpenStack tenancies and AWS accounts.

Import the concrete module you need (`components.sites.openstack`, `.aws`): each pulls
in its provider SDK, so this package imports neither.
"""
