import { createServer } from 'node:net'
import { Aedes } from 'aedes'
const aedes = await Aedes.createBroker({})
const server = createServer(aedes.handle)
server.listen(Number(process.argv[2]), '127.0.0.1')
