-- skynet.debug (being written)
return {}
