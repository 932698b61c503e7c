# PAIR_ID/vrid/VIRTUAL_ROUTER_ID
terraform import lvs_vip.web edge@198.51.100.11,198.51.100.12/vrid/91
