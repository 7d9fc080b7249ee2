"""Use-cases of the service: each takes the acting person (`api.actors.Actor`) and validates before writing."""
