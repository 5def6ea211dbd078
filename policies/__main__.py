"""Meridian's policy pack. Constructing PolicyPack starts the analyzer server and blocks: nothing else may."""

from meridian_policies import PACK
from pulumi_policy import PolicyPack

PolicyPack(**PACK)
