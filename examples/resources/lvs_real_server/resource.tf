# A web server behind the VIP. With `host`, the provider also puts the VIP on the real server's
# loopback with arp_ignore/arp_announce, as direct routing needs: no more lo:0 scripts.
resource "lvs_real_server" "web1" {
  virtual_server_id = lvs_virtual_server.web.id
  address           = "198.51.100.21"
  port              = 80
  weight            = 1
  host              = {}
}

resource "lvs_real_server" "web2" {
  virtual_server_id = lvs_virtual_server.web.id
  address           = "198.51.100.22"
  port              = 80
  weight            = 2
  thresholds        = { upper = 5000, lower = 4000 }
  host              = {}
  # A destroy sets the weight to 0 and waits up to 2 minutes for its connections to end.
  drain_timeout = "2m"
  # Out of the table when its check fails, whatever the virtual server's on_failure; each
  # director logs its verdicts (keepalived's inhibit_on_failure off, notify_up, notify_down).
  on_failure = "remove"
  notify = {
    up   = "logger -t lvs \"$LVS_VS $LVS_RS_ADDRESS:$LVS_RS_PORT up\""
    down = "logger -t lvs \"$LVS_VS $LVS_RS_ADDRESS:$LVS_RS_PORT down: $LVS_RS_REASON\""
  }
}
