resource "lvs_director_pair" "edge" {
  name = "edge"
  directors = [
    { host = "198.51.100.11", interface = "eth0" },
    { host = "198.51.100.12", interface = "eth0" },
  ]

  sync_connections = true  # IPVS connection sync: established connections survive failover
  vrrp_unicast     = false # true where the network filters VRRP multicast

  # Prometheus metrics of each director's agent at http://DIRECTOR:9469/metrics (off when unset),
  # and the agents' log level, applied at once without a restart.
  metrics   = { listen = ":9469" }
  log_level = "info"

  # Durations in whole seconds, like every duration of the provider ("900s", "15m").
  ipvs_timeouts = {
    tcp     = "15m"
    tcp_fin = "120s"
    udp     = "300s"
  }

  # Every operation is bounded (defaults: create, update and delete 10m, read 5m): a host that
  # stops answering fails the apply instead of hanging it.
  timeouts {
    create = "15m"
  }
}
