"""The peer: an endorser and a committer on one state database, in process or its own."""
