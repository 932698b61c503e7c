data "lvs_director_status" "edge" {
  director_pair_id = lvs_director_pair.edge.id
}

# Which director holds each VIP right now.
output "vrrp_roles" {
  value = {
    for d in data.lvs_director_status.edge.directors :
    d.host => { for v in d.vips : v.virtual_router_id => v.state }
  }
}
