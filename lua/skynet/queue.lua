-- skynet.queue (being written)
return {}
