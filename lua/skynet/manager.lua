-- skynet.manager (being written)
return {}
