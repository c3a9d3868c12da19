import t from 'tap'
import { hello } from './smoke-helper.js'
t.equal(hello(), 'hi')
