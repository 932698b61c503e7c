# VIRTUAL_SERVER_ID/ADDR:PORT
terraform import lvs_real_server.web1 edge@198.51.100.11,198.51.100.12/vrid/91/tcp/198.51.100.100:80/198.51.100.21:80
