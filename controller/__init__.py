"""The cluster-side half: Prometheus IO rates -> YAML rules -> Pod annotations."""
