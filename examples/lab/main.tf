# The lab cluster that `make demo` applies: the classic LVS-DR tutorial as code. Two directors
# share the VIP 198.51.100.100 by VRRP; IPVS spreads port 80 over two web servers with wrr 1:2;
# the provider puts the VIP on the web servers' loopback with ARP suppression (no lo:0 script).
# The lab (internal/lab) provides the hosts, their SSH key and known_hosts file.

terraform {
  required_providers {
    lvs = {
      source = "lvs-provider/lvs"
    }
  }
}

variable "private_key_file" {
  type        = string
  description = "SSH key that logs in to the lab hosts."
}

variable "known_hosts_file" {
  type        = string
  description = "known_hosts with the lab hosts' keys."
}

provider "lvs" {
  ssh = {
    private_key_file = var.private_key_file
    known_hosts_file = var.known_hosts_file
  }
}

resource "lvs_director_pair" "lab" {
  name = "lab"
  directors = [
    { host = "198.51.100.11", interface = "eth0" },
    { host = "198.51.100.12", interface = "eth0" },
  ]
}

resource "lvs_vip" "web" {
  director_pair_id  = lvs_director_pair.lab.id
  virtual_router_id = 91
  addresses         = ["198.51.100.100/24"]
  priority          = [150, 100]
  advert_interval   = "100ms"
}

resource "lvs_virtual_server" "http" {
  vip_id            = lvs_vip.web.id
  address           = "198.51.100.100"
  port              = 80
  scheduler         = "wrr"
  forwarding_method = "dr"

  # Each director GETs /healthz of every web server; two failures in a row take one out of
  # rotation (weight 0), two successes bring it back. A server held out is not drift.
  health_check = {
    type     = "http"
    path     = "/healthz"
    interval = "1s"
    timeout  = "500ms"
    fall     = 2
    rise     = 2
  }
}

resource "lvs_real_server" "web" {
  for_each = { "198.51.100.21" = 1, "198.51.100.22" = 2 }

  virtual_server_id = lvs_virtual_server.http.id
  address           = each.key
  port              = 80
  weight            = each.value
  host              = {}
}

output "directors" {
  value = [for d in lvs_director_pair.lab.directors : "${d.host}: lvs-agent ${d.agent_version} (${d.status})"]
}
