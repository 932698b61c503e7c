# VIP_ID/PROTO/ADDR:PORT — IPv6 as [ADDR]:PORT; firewall-mark services as VIP_ID/fwmark/inet/MARK
terraform import lvs_virtual_server.web edge@198.51.100.11,198.51.100.12/vrid/91/tcp/198.51.100.100:80
