# The VIP of a web cluster: director 0 is master, failover within 3 × 100ms + skew.
resource "lvs_vip" "web" {
  director_pair_id  = lvs_director_pair.edge.id
  virtual_router_id = 91
  addresses         = ["198.51.100.100/24", "2001:db8::100/64"]
  priority          = [150, 100]
  advert_interval   = "100ms"
}

# A VRRP-only VIP for an nginx pair: it follows a healthy nginx, no IPVS involved.
resource "lvs_vip" "proxy" {
  director_pair_id  = lvs_director_pair.edge.id
  virtual_router_id = 92
  addresses         = ["198.51.100.101"]
  preempt           = false

  track_scripts = [{
    name     = "nginx"
    command  = "pidof nginx"
    interval = "1s"
    fall     = 2
    rise     = 2
  }]

  notify = {
    master = "/usr/local/bin/page-oncall"
  }

  # The master announces the address again every minute, for switches that age their
  # tables out sooner than clients send (keepalived garp_master_refresh 60).
  gratuitous_arp = {
    refresh = "60s"
  }
}

# Next to a keepalived director configured with vrrp_version 2 and auth_type PASS.
resource "lvs_vip" "legacy" {
  director_pair_id  = lvs_director_pair.edge.id
  virtual_router_id = 51
  addresses         = ["198.51.100.102"]
  vrrp_version      = 2
  authentication    = var.vrrp_password
}
