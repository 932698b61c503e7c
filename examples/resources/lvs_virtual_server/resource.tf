# HTTP on the VIP, weighted least-connection, direct routing, checked with a GET.
resource "lvs_virtual_server" "web" {
  vip_id            = lvs_vip.web.id
  address           = "198.51.100.100"
  port              = 80
  protocol          = "tcp"
  scheduler         = "wrr"
  forwarding_method = "dr"

  health_check = {
    type            = "http"
    path            = "/healthz"
    expected_status = ["200"]
    interval        = "2s"
    timeout         = "1s"
    fall            = 2
    rise            = 2
  }
  on_failure = "quiesce"

  sorry_server = {
    address = "198.51.100.30"
    port    = 80
  }
}

# HTTPS with client affinity for five minutes.
resource "lvs_virtual_server" "tls" {
  vip_id      = lvs_vip.web.id
  address     = "198.51.100.100"
  port        = 443
  scheduler   = "sh"
  persistence = { timeout = "300s" }
}
