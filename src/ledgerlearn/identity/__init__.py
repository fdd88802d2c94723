"""Membership as Fabric's MSP sees it: CAs, member certificates with roles, signing."""
