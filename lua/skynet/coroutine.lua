-- skynet.coroutine (being written)
return {}
