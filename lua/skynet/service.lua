-- skynet.service (being written)
return {}
